"""InvokeAI's AppSettingsService (a global key/value store, e.g. the JWT secret) on SQLAlchemy Core."""

import secrets
from collections.abc import Callable

import sqlalchemy as sa

from invokeai_saas.db import Database
from invokeai_saas.db.dialect import insert_ignore, upsert
from invokeai_saas.db.tables.tenancy import app_settings

JWT_SECRET_KEY = "jwt_secret"


class SqlAppSettingsService:
    """Same public methods as `invokeai.app.services.app_settings.AppSettingsService`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        with self._db.begin() as conn:
            return conn.execute(sa.select(app_settings.c.value).where(app_settings.c.key == key)).scalar_one_or_none()

    def set(self, key: str, value: str) -> None:
        with self._db.begin() as conn:
            upsert(conn, app_settings, {"key": key, "value": value}, key=["key"], update=["value"])

    def get_or_create(self, key: str, make_value: Callable[[], str]) -> str:
        """The stored value, storing `make_value()` first if there is none.

        Insert-if-absent then read back, so processes starting at once all end up with the
        value of whichever insert landed first.
        """
        with self._db.begin() as conn:
            insert_ignore(conn, app_settings, {"key": key, "value": make_value()}, key=["key"])
            return conn.execute(sa.select(app_settings.c.value).where(app_settings.c.key == key)).scalar_one()

    def get_jwt_secret(self) -> str:
        """The JWT signing secret; created on first use (stock creates it in a SQLite migration)."""
        return self.get_or_create(JWT_SECRET_KEY, lambda: secrets.token_hex(32))
