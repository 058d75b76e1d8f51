"""InvokeAI's system prompts on SQLAlchemy Core, scoped to the current tenant.

Stock InvokeAI seeds its default prompts once, in a migration, owned by 'system' and
public. Here they are platform rows (tenant_id NULL, is_public): every tenant reads them,
none writes them. `seed_default_system_prompts` inserts them once per database (a marker
in app_settings remembers it), so prompts an operator deleted stay deleted.
"""

from typing import Any, Optional

import sqlalchemy as sa
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.shared.sqlite_migrator.migrations.migration_2026_07_10_create_system_prompts import (
    DEFAULT_SYSTEM_PROMPTS,
)
from invokeai.app.services.system_prompt_records.system_prompt_records_base import SystemPromptRecordsStorageBase
from invokeai.app.services.system_prompt_records.system_prompt_records_common import (
    SYSTEM_PROMPT_DEFAULT_USER_ID,
    SystemPromptChanges,
    SystemPromptNotFoundError,
    SystemPromptRecordDTO,
    SystemPromptWithoutId,
)
from invokeai.app.util.misc import uuid_string

from invokeai_saas.accounts import audit
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import insert_ignore
from invokeai_saas.db.tables.system_prompts import system_prompts as spt
from invokeai_saas.db.tables.tenancy import app_settings
from tenant_middleware.context import current_tenant_id, system_scope

SEEDED_MARKER_KEY = "pingvas.system_prompts.defaults_seeded"

_DTO_COLUMNS = [spt.c[n] for n in ("id", "name", "content", "user_id", "is_public", "created_at", "updated_at")]


def _readable() -> sa.ColumnElement[bool]:
    """The tenant's prompts plus the platform's public ones."""
    return sa.or_(tenant_clause(spt), sa.and_(spt.c.tenant_id.is_(None), spt.c.is_public == sa.true()))


def _writable(system_prompt_id: str, user_id: Optional[str]) -> list[sa.ColumnElement[bool]]:
    conditions = [spt.c.id == system_prompt_id, tenant_clause(spt)]
    if user_id is not None:
        conditions.append(spt.c.user_id == user_id)
    return conditions


def _not_found(system_prompt_id: str) -> SystemPromptNotFoundError:
    return SystemPromptNotFoundError(f"System prompt with id {system_prompt_id} not found")


class SqlSystemPromptRecordsStorage(SystemPromptRecordsStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker
        self.seed_default_system_prompts()

    def get(self, system_prompt_id: str) -> SystemPromptRecordDTO:
        with self._db.begin() as conn:
            row = conn.execute(sa.select(*_DTO_COLUMNS).where(spt.c.id == system_prompt_id, _readable())).first()
        if row is None:
            raise _not_found(system_prompt_id)
        return SystemPromptRecordDTO.from_dict(dict(row._mapping))

    def create(self, system_prompt: SystemPromptWithoutId, user_id: str, is_public: bool = False) -> SystemPromptRecordDTO:
        system_prompt_id = uuid_string()
        now = utcnow()
        with self._db.begin() as conn:
            conn.execute(
                sa.insert(spt).values(
                    id=system_prompt_id,
                    tenant_id=current_tenant_id(),
                    name=system_prompt.name,
                    content=system_prompt.content,
                    user_id=user_id,
                    is_public=is_public,
                    created_at=now,
                    updated_at=now,
                )
            )
            return self.get(system_prompt_id)

    def update(
        self,
        system_prompt_id: str,
        changes: SystemPromptChanges,
        user_id: Optional[str] = None,
    ) -> SystemPromptRecordDTO:
        values: dict[str, Any] = changes.model_dump(exclude_none=True)
        conditions = _writable(system_prompt_id, user_id)
        with self._db.begin() as conn:
            before = conn.execute(sa.select(spt.c.user_id, spt.c.is_public).where(*conditions)).first()
            if before is None:
                raise _not_found(system_prompt_id)
            if values:
                conn.execute(sa.update(spt).where(*conditions).values(**values, updated_at=utcnow()))
            if "is_public" in values:
                audit.publicity_changed(conn, "system_prompt", system_prompt_id, before.user_id, before.is_public, values["is_public"])
            return self.get(system_prompt_id)

    def delete(self, system_prompt_id: str, user_id: Optional[str] = None) -> None:
        with self._db.begin() as conn:
            gone = conn.execute(
                sa.delete(spt).where(*_writable(system_prompt_id, user_id)).returning(spt.c.id, spt.c.user_id)
            ).all()
            if not gone:
                raise _not_found(system_prompt_id)
            audit.record(conn, "deleted", "system_prompt", [tuple(r) for r in gone])

    def get_many(self, user_id: Optional[str] = None) -> list[SystemPromptRecordDTO]:
        conditions = [_readable()]
        if user_id is not None:
            conditions.append(sa.or_(spt.c.user_id == user_id, spt.c.is_public == sa.true()))
        stmt = sa.select(*_DTO_COLUMNS).where(*conditions).order_by(sa.func.lower(spt.c.name), spt.c.id)
        with self._db.begin() as conn:
            rows = conn.execute(stmt).all()
        return [SystemPromptRecordDTO.from_dict(dict(row._mapping)) for row in rows]

    def seed_default_system_prompts(self) -> None:
        """Insert InvokeAI's default prompts as platform rows, once per database."""
        now = utcnow()
        rows = [
            {
                "id": prompt_id,
                "tenant_id": None,
                "name": name,
                "content": content,
                "user_id": SYSTEM_PROMPT_DEFAULT_USER_ID,
                "is_public": True,
                "created_at": now,
                "updated_at": now,
            }
            for prompt_id, name, content in DEFAULT_SYSTEM_PROMPTS
        ]
        with system_scope(), self._db.begin() as conn:
            if conn.execute(sa.select(app_settings.c.key).where(app_settings.c.key == SEEDED_MARKER_KEY)).first():
                return
            insert_ignore(conn, spt, rows, key=["id"])
            insert_ignore(conn, app_settings, {"key": SEEDED_MARKER_KEY, "value": now.isoformat()}, key=["key"])
