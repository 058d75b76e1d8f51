"""Every Redis use reads one URL: standalone (dev) or Sentinel (prod), in the form the rate limits read too."""

from redis.sentinel import SentinelConnectionPool

from invokeai_saas.core.redis_client import connect


def test_a_sentinel_url_names_its_sentinels_service_database_and_password() -> None:
    client = connect("redis+sentinel://:s3cret@sentinel-a:26379,sentinel-b:26380/pingvas-prod/2")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "pingvas-prod"
    assert pool.connection_kwargs["db"] == 2 and pool.connection_kwargs["password"] == "s3cret"
    sentinels = [(c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
                 for c in pool.sentinel_manager.sentinels]
    assert sentinels == [("sentinel-a", 26379), ("sentinel-b", 26380)]


def test_a_standalone_url_talks_to_that_server() -> None:
    client = connect("redis://127.0.0.1:6379/0")
    assert client.ping()
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6379, 0)
