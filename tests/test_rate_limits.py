"""Abuse limits: sign-in guessing and mass sign-ups are refused with 429 `rate_limited` and `Retry-After`.

Unit tests run the limiter on memory and on the real Redis; the HTTP tests run one studio of their own
with small limits, counters in Redis, and 127.0.0.1 as a trusted proxy, so every test speaks from its
own X-Forwarded-For address and no test spends another's budget.
"""

import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address

import anyio
import httpx
import pytest
from limits.storage import Storage
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from invokeai_saas.core.body_limits import AUTH_BODY_LIMIT
from invokeai_saas.db import Database
from invokeai_saas.accounts.rate_limits import (
    AbuseLimits, RateLimit, RateLimitMiddleware, account_key, address_key, client_address, open_storage, parse_networks,
)
from invokeai_saas.core.settings import Settings
from tests import http
from tests.conftest import unique_email
from tests.studio import ROOT, Account, Studio

REDIS_URL = "redis://127.0.0.1:6379/13"
LIMIT = 3
PASSWORD = "Passw0rd!x"


def fresh_address() -> str:
    """A random 10.x.y.z, so tests (and concurrent runs) never share a bucket."""
    return str(IPv4Address(random.randrange(0x0A000001, 0x0AFFFFFF)))


def _rate_limited(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "rate_limited" and r.json()["detail"], r.json()
    retry_after = int(r.headers["retry-after"])
    assert 1 <= retry_after <= 60
    return retry_after


# --- the limiter, on both storages ---------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    store = open_storage(None if request.param == "memory" else REDIS_URL, key_prefix=f"pingvas-test-{uuid.uuid4().hex}")
    yield store
    store.reset()


def test_a_limit_allows_its_amount_then_refuses_until_the_window_passes(storage: Storage) -> None:
    limit = RateLimit("3/second", storage, "unit")
    assert all(limit.test("k") and limit.hit("k") for _ in range(3))
    assert not limit.test("k") and not limit.hit("k")
    assert limit.retry_after("k") == 1
    assert limit.test("other"), "another key has its own budget"
    time.sleep(1.1)
    assert limit.test("k") and limit.hit("k")


def test_testing_a_limit_consumes_nothing(storage: Storage) -> None:
    limit = RateLimit("2/minute", storage, "unit")
    assert all(limit.test("k") for _ in range(10))
    assert limit.hit("k") and limit.hit("k") and not limit.hit("k")
    assert 58 <= limit.retry_after("k") <= 60
    limit.clear("k")
    assert limit.hit("k")


def test_failed_sign_ins_spend_the_account_and_the_address_buckets(storage: Storage) -> None:
    limits = AbuseLimits("2/minute", "5/minute", storage)
    for _ in range(2):
        assert limits.refuse_login("10.0.0.1", "Ann@Example.com") is None
        limits.count_failed_login("10.0.0.1", " ann@example.COM ")
    assert limits.refuse_login("10.0.0.1", "ann@example.com") is not None
    assert limits.refuse_login("10.0.0.2", "ANN@example.com") is not None, "the account bucket follows the e-mail"
    assert limits.refuse_login("10.0.0.1", "bob@example.com") is not None, "the address bucket follows the address"
    assert limits.refuse_login("10.0.0.2", "bob@example.com") is None
    assert limits.refuse_login("10.0.0.2", None) is None


def test_every_sign_up_counts_against_its_address(storage: Storage) -> None:
    limits = AbuseLimits("2/minute", "2/minute", storage)
    assert limits.refuse_signup("10.0.0.1") is None and limits.refuse_signup("10.0.0.1") is None
    assert 1 <= (limits.refuse_signup("10.0.0.1") or 0) <= 60
    assert limits.refuse_signup("10.0.0.2") is None
    assert limits.refuse_signup("2001:db8::1") is None and limits.refuse_signup("2001:db8::2") is None
    assert limits.refuse_signup("2001:db8::ffff") is not None, "an IPv6 /64 is one bucket"


def test_account_keys_never_hold_the_e_mail() -> None:
    assert account_key(" Ann@Example.com ") == account_key("ann@example.com")
    assert "ann" not in account_key("ann@example.com")
    assert account_key("\ud800@example.com")  # a lone surrogate from JSON is still a key
    assert address_key("203.0.113.9") == "203.0.113.9" and address_key("2001:db8:1:2:3::4") == "2001:db8:1:2::/64"


# --- who the client is ----------------------------------------------------------------------------


def _scope(peer: str | None, *forwarded: str) -> Scope:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    return {"type": "http", "client": (peer, 5000) if peer else None, "headers": headers}


def test_x_forwarded_for_from_an_untrusted_connection_is_ignored() -> None:
    assert client_address(_scope("203.0.113.7", "198.51.100.1"), ()) == "203.0.113.7"
    assert client_address(_scope("203.0.113.7", "198.51.100.1"), parse_networks("10.0.0.0/8")) == "203.0.113.7"


def test_a_trusted_proxy_names_the_client_from_the_right() -> None:
    proxies = parse_networks("10.0.0.1, 10.1.0.0/16, fd00::/8")
    # a client-supplied left part is never believed: the nearest untrusted hop wins
    assert client_address(_scope("10.0.0.1", "6.6.6.6, 198.51.100.1"), proxies) == "198.51.100.1"
    assert client_address(_scope("10.0.0.1", "198.51.100.1, 10.1.2.3"), proxies) == "198.51.100.1"
    assert client_address(_scope("10.0.0.1", "6.6.6.6", "198.51.100.1, 10.1.9.9"), proxies) == "198.51.100.1"
    assert client_address(_scope("fd00::5", "2001:db8::1"), proxies) == "2001:db8::1"
    assert client_address(_scope("::ffff:10.0.0.1", "198.51.100.1"), proxies) == "198.51.100.1"
    assert client_address(_scope("10.0.0.1"), proxies) == "10.0.0.1", "no header: the proxy itself"


@pytest.mark.parametrize(
    "header", ["", ",,,", "garbage", "1.2.3.4.5", "999.1.1.1, ", "<script>", "\xff\xfe", "unknown, 10.1.0.7"]
)
def test_garbage_forwarded_headers_fall_back_to_the_nearest_proxy(header: str) -> None:
    proxies = parse_networks("10.0.0.1,10.1.0.0/16")
    assert client_address(_scope("10.0.0.1", header), proxies) in ("10.0.0.1", "10.1.0.7")


def test_a_connection_without_an_ip_address_still_has_a_bucket() -> None:
    assert client_address(_scope(None), ()) == "unknown"
    assert client_address(_scope("testclient", "1.2.3.4"), parse_networks("10.0.0.1")) == "testclient"


def test_invalid_limits_or_proxies_stop_the_server_at_start_up(tmp_path) -> None:
    for field, value, setting in [("login_rate_limit", "lots", "PINGVAS_LOGIN_RATE_LIMIT"),
                                  ("signup_rate_limit", "10/minute;100/day", "PINGVAS_SIGNUP_RATE_LIMIT"),
                                  ("trusted_proxies", "10.0.0.1, proxy.local", "PINGVAS_TRUSTED_PROXIES")]:
        with pytest.raises(ValidationError, match=setting):
            Settings(**{field: value})
    run = subprocess.run(
        [sys.executable, "-m", "invokeai_saas.wiring.cli", "serve", "--data-dir", str(tmp_path)], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PINGVAS_LOGIN_RATE_LIMIT": "ten a minute"}, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode != 0 and "PINGVAS_LOGIN_RATE_LIMIT='ten a minute' is not one rate limit" in run.stderr


# --- the middleware, on an ASGI app of its own -----------------------------------------------------


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 401 if b"wrong" in body else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _post_each(app: ASGIApp, path: str, bodies: list[bytes]) -> list[httpx.Response]:
    async def post_each() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://studio", timeout=60) as client:
            return [await client.post(path, content=body) for body in bodies]

    # In a thread of its own: the browser tests (Playwright's sync API) leave an event loop marked
    # running in the main thread, where anyio.run would refuse to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, post_each).result()


def test_the_sign_in_body_reaches_the_app_unchanged(storage: Storage) -> None:
    app = RateLimitMiddleware(_echo, AbuseLimits("100/minute", "100/minute", storage))
    bodies = [b'{"email": "a@example.com", "password": "x"}', b"not json", b"[" * AUTH_BODY_LIMIT, b'{"email": 5}', b""]
    for body, r in zip(bodies, _post_each(app, "/api/v1/auth/login", bodies)):
        assert r.status_code == 200 and r.content == body


def test_a_sign_in_body_too_big_to_read_is_refused_not_let_through(storage: Storage) -> None:
    """A padded body used to reach the app with only the address's bucket counting."""
    app = RateLimitMiddleware(_echo, AbuseLimits("1/minute", "100/minute", storage))
    padded = b'{"email": "a@example.com", "password": "right", "pad": "' + b"x" * AUTH_BODY_LIMIT + b'"}'
    for r in _post_each(app, "/api/v1/auth/login", [padded, padded]):
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text[:200]


def test_unparseable_sign_in_bodies_still_count_against_the_address(storage: Storage) -> None:
    app = RateLimitMiddleware(_echo, AbuseLimits("2/minute", "100/minute", storage))
    responses = _post_each(app, "/api/v1/auth/login", [b"wrong", b"wrong[", b"wrong[["])
    assert [r.status_code for r in responses] == [401, 401, 429]


def test_an_unreachable_counter_store_lets_requests_through() -> None:
    app = RateLimitMiddleware(_echo, AbuseLimits("1/minute", "1/minute", open_storage("redis://127.0.0.1:1/0")))
    assert [r.status_code for r in _post_each(app, "/api/v1/signup", [b"{}"] * 3)] == [200, 200, 200]
    assert [r.status_code for r in _post_each(app, "/api/v1/auth/login", [b"wrong"] * 3)] == [401, 401, 401]


# --- over real HTTP --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """A studio of this module's own: SQLite, counters in Redis, `LIMIT`/minute, 127.0.0.1 a trusted proxy."""
    data_dir = tmp_path_factory.mktemp("studio-limited")
    env = {"PINGVAS_DATABASE_URL": "", "PINGVAS_REDIS_URL": REDIS_URL, "PINGVAS_TRUSTED_PROXIES": "127.0.0.1",
           "PINGVAS_LOGIN_RATE_LIMIT": f"{LIMIT}/minute", "PINGVAS_SIGNUP_RATE_LIMIT": f"{LIMIT}/minute"}
    studio = Studio("sqlite", data_dir, env, Database(f"sqlite:///{data_dir / 'databases' / 'pingvas.db'}"))
    studio.start()
    try:
        yield studio
    finally:
        studio.stop()


@pytest.fixture
def buckets() -> Iterator[list[tuple[str, str | None]]]:
    """(address, e-mail) pairs a test spent; their counters in the studio's Redis are cleared afterwards."""
    spent: list[tuple[str, str | None]] = []
    yield spent
    server = AbuseLimits(f"{LIMIT}/minute", f"{LIMIT}/minute", open_storage(REDIS_URL))
    for address, email in spent:
        server.login_address.clear(address_key(address))
        server.signup_address.clear(address_key(address))
        if email:
            server.login_account.clear(account_key(email))


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def _login(studio: Studio, email: str, password: str, address: str) -> httpx.Response:
    return http.post(f"{studio.url}/api/v1/auth/login", json={"email": email, "password": password}, headers=_from(address))


def _signup(studio: Studio, email: str, address: str) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "workspace_name": "Rate"}
    return http.post(f"{studio.url}/api/v1/signup", json=body, headers=_from(address))


def _owner(studio: Studio, buckets: list) -> Account:
    address, email = fresh_address(), unique_email("owner")
    buckets.append((address, email))
    r = _signup(studio, email, address)
    assert r.status_code == 201, r.text
    return Account(r.json()["token"], r.json()["user_id"], r.json()["tenant_id"], email, PASSWORD)


def test_failed_sign_ins_for_one_account_are_refused_after_the_limit(limited: Studio, buckets: list) -> None:
    owner = _owner(limited, buckets)
    for _ in range(LIMIT):  # each guess from a new address: only the account's bucket fills
        address = fresh_address()
        buckets.append((address, None))
        assert _login(limited, owner.email, "Wrong!pass1", address).status_code == 401
    address = fresh_address()
    buckets.append((address, None))
    _rate_limited(_login(limited, owner.email.upper(), owner.password, address))
    _rate_limited(_login(limited, f"  {owner.email} ", "Wrong!pass1", address))


def test_failed_sign_ins_from_one_address_are_refused_across_accounts(limited: Studio, buckets: list) -> None:
    owner = _owner(limited, buckets)
    attacker = fresh_address()
    buckets.append((attacker, None))
    for _ in range(LIMIT):
        email = unique_email("guess")
        buckets.append((attacker, email))
        assert _login(limited, email, "Wrong!pass1", attacker).status_code == 401
    _rate_limited(_login(limited, owner.email, owner.password, attacker))
    elsewhere = fresh_address()
    buckets.append((elsewhere, None))
    assert _login(limited, owner.email, owner.password, elsewhere).status_code == 200, "the account itself is not locked"


def test_successful_sign_ins_are_never_counted(limited: Studio, buckets: list) -> None:
    owner = _owner(limited, buckets)
    address = fresh_address()
    buckets.append((address, None))
    assert [_login(limited, owner.email, owner.password, address).status_code for _ in range(LIMIT + 2)] == [200] * (LIMIT + 2)


def test_sign_ups_from_one_address_are_refused_after_the_limit_while_others_sign_up(limited: Studio, buckets: list) -> None:
    address, other = fresh_address(), fresh_address()
    buckets.extend([(address, None), (other, None)])
    assert [_signup(limited, unique_email("bulk"), address).status_code for _ in range(LIMIT)] == [201] * LIMIT
    email = unique_email("bulk")
    _rate_limited(_signup(limited, email, address))
    assert _signup(limited, email, other).status_code == 201, "another address still signs up, the refused e-mail too"


def test_invitation_accepts_count_against_the_same_address_bucket(limited: Studio, buckets: list) -> None:
    owner = _owner(limited, buckets)
    with limited.client(owner) as c:
        tokens = [c.post("/api/v1/tenant/invitations", json={"email": unique_email("mate")}).json()["token"] for _ in range(2)]
    address = fresh_address()
    buckets.append((address, None))
    for _ in range(LIMIT - 1):
        assert _signup(limited, unique_email("solo"), address).status_code == 201
    accept = {"token": tokens[0], "password": "Teammate1!"}
    assert http.post(f"{limited.url}/api/v1/invitations/accept", json=accept, headers=_from(address)).status_code == 201
    refused = {"token": tokens[1], "password": "Teammate1!"}
    _rate_limited(http.post(f"{limited.url}/api/v1/invitations/accept", json=refused, headers=_from(address)))
    _rate_limited(_signup(limited, unique_email("solo"), address))
    other = fresh_address()
    buckets.append((other, None))
    r = http.post(f"{limited.url}/api/v1/invitations/accept", json=refused, headers=_from(other))
    assert r.status_code == 201 and r.json()["tenant_id"] == owner.tenant_id, "a refused accept does not spend the invitation"


@pytest.mark.parametrize("forwarded", ["garbage", "1.2.3.4.5,, ::1", "\xff" * 50, ",".join(["10.0.0.1"] * 300)])
def test_malformed_forwarded_headers_and_bodies_never_answer_500(limited: Studio, forwarded: str) -> None:
    # every such request lands in 127.0.0.1's own bucket; refused input never counts
    for content in [b"not json", b'{"email": ["x"], "password": 1}', b"[" * 4_000]:
        r = http.post(f"{limited.url}/api/v1/auth/login", content=content,
                      headers={"X-Forwarded-For": forwarded.encode("latin-1"), "Content-Type": "application/json"})
        assert r.status_code in (400, 422) and r.json()["code"] == "invalid_input", r.text
    r = http.post(f"{limited.url}/api/v1/auth/login", content=b"[" * 100_000,
                  headers={"X-Forwarded-For": forwarded.encode("latin-1"), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text


def test_the_operator_api_is_a_404_outside_the_operations_network(limited: Studio) -> None:
    """127.0.0.1 is a trusted proxy here: the client is the address it forwards for. Loopback is the
    default operations network; a request from anywhere else finds no operator route at all."""
    operator = limited.operator(unique_email("ops"))
    with limited.client(operator) as c:
        inside = c.get("/api/v1/admin/tenants", headers=_from("127.0.0.1"))
        outside = [c.get(path, headers=_from("203.0.113.9")) for path in ("/api/v1/admin/tenants", "/api/v1/admin/queue")]
        patch = c.patch("/api/v1/admin/tenants/anything", json={"status": "suspended"}, headers=_from("198.51.100.7"))
    assert inside.status_code == 200, inside.text
    for refused in (*outside, patch):
        assert (refused.status_code, refused.json()["code"]) == (404, "not_found"), refused.text
