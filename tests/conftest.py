import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from invokeai_saas.db import Database
from tests.db_fixtures import APP_ROLE, create_pg_database, database, drop_pg_database, other_tenant, pg_url, tenant  # noqa: F401
from tests.gemini_server import GeminiStandIn, gemini  # noqa: F401
from tests.generation import install_tiny_model
from tests.lemonsqueezy_server import LemonSqueezyStandIn, lemonsqueezy  # noqa: F401
from tests.studio import TRIAL_AT_SIGNUP, Studio, free_port

pytest_plugins = ["tests.browser"]  # the browser fixtures: one Chromium per session, shared by the UI tests

# The suite signs up hundreds of workspaces from 127.0.0.1 (tests/test_rate_limits.py runs its own studio with small
# limits), and its workspaces start with their trial at once: the e-mail tests (tests/test_email_accounts.py) turn
# verification on for their own studios.
SUITE_ENV = {"PINGVAS_SIGNUP_RATE_LIMIT": "100000/minute", "PINGVAS_LOGIN_RATE_LIMIT": "100000/minute", **TRIAL_AT_SIGNUP}


@contextmanager
def running_studio(backend: str, data_dir: Path, extra_env: dict[str, str] | None = None, port: int | None = None) -> Iterator[Studio]:
    """A `pingvas serve` on its own database of `backend` (sqlite or postgres), stopped and dropped afterwards;
    on `port` when its URL must be known before it starts (PINGVAS_PUBLIC_URL), else on a free one."""
    pg_name = None
    if backend == "sqlite":
        env = {"PINGVAS_DATABASE_URL": "", **SUITE_ENV}
        db = Database(f"sqlite:///{data_dir / 'databases' / 'pingvas.db'}")
    else:
        pg_name = create_pg_database()
        url = pg_url(pg_name)
        env = {"PINGVAS_DATABASE_URL": url, "PINGVAS_DB_SCHEMA": "pingvas", "PINGVAS_DB_APP_ROLE": APP_ROLE, **SUITE_ENV}
        db = Database(url, schema="pingvas", app_role=APP_ROLE)
    studio = Studio(backend, data_dir, env | (extra_env or {}), db, port=port or free_port())
    try:
        studio.start()
        yield studio
    finally:
        studio.stop()
        if pg_name:
            drop_pg_database(pg_name)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def studio(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    lemonsqueezy: LemonSqueezyStandIn,  # noqa: F811
    gemini: GeminiStandIn,  # noqa: F811
) -> Iterator[Studio]:
    """A running studio per backend, shared by the session; tests isolate by signing up fresh tenants.
    Its billing talks to a local Lemon Squeezy stand-in, its nano-banana nodes to a Gemini stand-in."""
    env = lemonsqueezy.env() | gemini.env()
    with running_studio(request.param, tmp_path_factory.mktemp(f"studio-{request.param}"), env) as studio:
        yield studio


@pytest.fixture(scope="session")
def tiny_model_key(studio: Studio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tiny random-weight SD 1.5 model, installed once per studio by an operator; its model key."""
    operator = studio.operator(unique_email("ops"))
    yield install_tiny_model(studio, operator, tmp_path_factory.mktemp(f"tiny-{studio.backend}"))


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
