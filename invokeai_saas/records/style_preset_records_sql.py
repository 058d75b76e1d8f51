"""InvokeAI's style presets on SQLAlchemy Core, scoped to the current tenant.

InvokeAI's shipped `default` presets are platform rows (tenant_id NULL): every tenant
reads them, none writes them; `sync_default_style_presets` maintains them.
"""

import json
import uuid
from pathlib import Path
from typing import Any

import invokeai.app.services.style_preset_records as stock_style_preset_records
import sqlalchemy as sa
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.style_preset_records.style_preset_records_base import StylePresetRecordsStorageBase
from invokeai.app.services.style_preset_records.style_preset_records_common import (
    PresetType,
    StylePresetChanges,
    StylePresetNotFoundError,
    StylePresetRecordDTO,
    StylePresetWithoutId,
)
from invokeai.app.util.misc import uuid_string

from invokeai_saas.accounts import audit
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import upsert
from invokeai_saas.db.tables.style_presets import style_presets as sp
from tenant_middleware.context import current_tenant_id, system_scope

DEFAULT_STYLE_PRESETS_FILE = Path(stock_style_preset_records.__file__).parent / "default_style_presets.json"
SYSTEM_USER_ID = "system"
# Default presets get ids derived from their names, so re-syncing (from any number of
# processes) keeps them stable instead of minting new ones on every start as stock does.
_DEFAULT_ID_NAMESPACE = uuid.UUID("5f0c2d8e-7a43-4c1e-9b56-3d2a8f1e6c90")

_DTO_COLUMNS = [sp.c[n] for n in ("id", "name", "preset_data", "type", "user_id", "is_public")]


def _platform_default() -> sa.ColumnElement[bool]:
    return sa.and_(sp.c.tenant_id.is_(None), sp.c.type == PresetType.Default.value)


def _readable() -> sa.ColumnElement[bool]:
    """The tenant's presets plus the platform's default presets."""
    return sa.or_(tenant_clause(sp), _platform_default())


def _row(style_preset: StylePresetWithoutId, user_id: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": uuid_string(),
        "tenant_id": current_tenant_id(),
        "name": style_preset.name,
        "preset_data": style_preset.preset_data.model_dump_json(),
        "type": PresetType(style_preset.type).value,
        "user_id": user_id,
        "is_public": style_preset.is_public,
        "created_at": now,
        "updated_at": now,
    }


def default_style_preset_id(name: str) -> str:
    return str(uuid.uuid5(_DEFAULT_ID_NAMESPACE, name))


class SqlStylePresetRecordsStorage(StylePresetRecordsStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker
        self.sync_default_style_presets()

    def get(self, style_preset_id: str) -> StylePresetRecordDTO:
        with self._db.begin() as conn:
            row = conn.execute(sa.select(*_DTO_COLUMNS).where(sp.c.id == style_preset_id, _readable())).first()
        if row is None:
            raise StylePresetNotFoundError(f"Style preset with id {style_preset_id} not found")
        return StylePresetRecordDTO.from_dict(dict(row._mapping))

    def create(self, style_preset: StylePresetWithoutId, user_id: str) -> StylePresetRecordDTO:
        row = _row(style_preset, user_id)
        with self._db.begin() as conn:
            conn.execute(sa.insert(sp).values(row))
            return self.get(row["id"])

    def create_many(self, style_presets: list[StylePresetWithoutId], user_id: str) -> None:
        if not style_presets:
            return
        with self._db.begin() as conn:
            conn.execute(sa.insert(sp), [_row(p, user_id) for p in style_presets])

    def update(self, style_preset_id: str, changes: StylePresetChanges) -> StylePresetRecordDTO:
        """Applies name, preset_data and is_public (stock ignores `type` here too)."""
        values: dict[str, Any] = {}
        if changes.name is not None:
            values["name"] = changes.name
        if changes.preset_data is not None:
            values["preset_data"] = changes.preset_data.model_dump_json()
        if changes.is_public is not None:
            values["is_public"] = changes.is_public
        mine = sa.and_(sp.c.id == style_preset_id, tenant_clause(sp))
        with self._db.begin() as conn:
            # A platform default is readable but not the tenant's: treat it as missing.
            before = conn.execute(sa.select(sp.c.user_id, sp.c.is_public).where(mine)).first()
            if before is None:
                raise StylePresetNotFoundError(f"Style preset with id {style_preset_id} not found")
            if values:
                conn.execute(sa.update(sp).where(mine).values(**values, updated_at=utcnow()))
            if "is_public" in values:
                audit.publicity_changed(conn, "style_preset", style_preset_id, before.user_id, before.is_public, values["is_public"])
            return self.get(style_preset_id)

    def delete(self, style_preset_id: str) -> None:
        with self._db.begin() as conn:
            gone = conn.execute(
                sa.delete(sp).where(sp.c.id == style_preset_id, tenant_clause(sp)).returning(sp.c.id, sp.c.user_id)
            ).all()
            audit.record(conn, "deleted", "style_preset", [tuple(r) for r in gone])

    def get_many(
        self,
        type: PresetType | None = None,
        user_id: str | None = None,
        is_admin: bool = False,
    ) -> list[StylePresetRecordDTO]:
        conditions = [_readable()]
        if not is_admin:
            visible = [sp.c.type == PresetType.Default.value, sp.c.is_public == sa.true()]
            if user_id is not None:
                visible.append(sp.c.user_id == user_id)
            conditions.append(sa.or_(*visible))
        if type is not None:
            conditions.append(sp.c.type == PresetType(type).value)
        stmt = sa.select(*_DTO_COLUMNS).where(*conditions).order_by(sa.func.lower(sp.c.name), sp.c.id)
        with self._db.begin() as conn:
            rows = conn.execute(stmt).all()
        return [StylePresetRecordDTO.from_dict(dict(row._mapping)) for row in rows]

    def sync_default_style_presets(self) -> None:
        """Make the platform's default presets match the JSON file InvokeAI ships."""
        presets = [StylePresetWithoutId.model_validate(p) for p in json.loads(DEFAULT_STYLE_PRESETS_FILE.read_text())]
        ids = [default_style_preset_id(p.name) for p in presets]
        with system_scope(), self._db.begin() as conn:
            conn.execute(sa.delete(sp).where(_platform_default(), sp.c.id.not_in(ids)))
            for preset_id, preset in zip(ids, presets, strict=True):
                row = {**_row(preset, SYSTEM_USER_ID), "id": preset_id, "tenant_id": None, "type": PresetType.Default.value}
                upsert(conn, sp, row, key=["id"], update=["name", "preset_data", "type", "user_id", "is_public", "updated_at"])
