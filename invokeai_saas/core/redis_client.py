"""One Redis client per process from `PINGVAS_REDIS_URL`: `redis://…` (standalone, dev) or
`redis+sentinel://[:password@]host:port[,host:port…]/service_name[/db]` (Sentinel, prod; the same
form the rate limits' `limits` storage reads)."""

from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SOCKET_TIMEOUT = 5.0


def connect(url: str) -> redis.Redis:
    parts = urlsplit(url)
    if parts.scheme != "redis+sentinel":
        return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    netloc = parts.netloc
    password = None
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        password = unquote(credentials.split(":", 1)[-1]) or None
    hosts = []
    for host in netloc.split(","):
        name, _, port = host.rpartition(":")
        hosts.append((name, int(port or 26379)))
    service, _, db = parts.path.strip("/").partition("/")
    sentinel = Sentinel(hosts, socket_timeout=SOCKET_TIMEOUT, sentinel_kwargs={"password": password} if password else None)
    return sentinel.master_for(service, db=int(db or 0), password=password, socket_timeout=SOCKET_TIMEOUT)
