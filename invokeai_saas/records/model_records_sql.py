"""InvokeAI's model record store on SQLAlchemy Core: one global catalog shared by every tenant.

Each row keeps the whole config as JSON plus plain copies of the fields that are filtered
and ordered on (stock uses SQLite generated columns for these).
"""

import json
import logging
from enum import Enum
from math import ceil
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from invokeai.app.services.model_records.model_records_base import (
    DuplicateModelException,
    ModelRecordChanges,
    ModelRecordOrderBy,
    ModelRecordServiceBase,
    ModelSummary,
    UnknownModelException,
)
from invokeai.app.services.model_records.model_records_sql import _construct_config_for_type
from invokeai.app.services.shared.pagination import PaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai.backend.model_manager.configs.factory import AnyModelConfig, ModelConfigFactory
from invokeai.backend.model_manager.taxonomy import BaseModelType, ModelFormat, ModelType
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.models import models

# Config fields copied into plain columns of the same name.
_PLAIN_FIELDS = ("hash", "base", "type", "path", "format", "name", "description", "source", "source_type", "file_size")


def _row_values(config: AnyModelConfig) -> dict[str, Any]:
    """The `models` columns for a config (the JSON dump turns enums into their values)."""
    config_json = config.model_dump_json()
    data = json.loads(config_json)
    return {field: data.get(field) for field in _PLAIN_FIELDS} | {"config": config_json}


def _parse(config_json: str) -> AnyModelConfig:
    return ModelConfigFactory.from_dict(json.loads(config_json))


def _value(member: str | Enum) -> str:
    return str(member.value) if isinstance(member, Enum) else member


def _ordering(order_by: ModelRecordOrderBy, direction: SQLiteDirection) -> list[sa.ColumnElement[Any]]:
    """Stock ordering ("COLLATE NOCASE" becomes lower()), plus the key so pages are stable."""
    assert isinstance(order_by, ModelRecordOrderBy)
    descending = direction == SQLiteDirection.Descending

    def directed(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return expr.desc() if descending else expr.asc()

    columns: dict[ModelRecordOrderBy, list[sa.ColumnElement[Any]]] = {
        ModelRecordOrderBy.Default: [models.c.type, sa.func.lower(models.c.base), sa.func.lower(models.c.name), models.c.format],
        ModelRecordOrderBy.Type: [models.c.type],
        ModelRecordOrderBy.Base: [sa.func.lower(models.c.base)],
        ModelRecordOrderBy.Name: [sa.func.lower(models.c.name)],
        ModelRecordOrderBy.Format: [models.c.format],
        ModelRecordOrderBy.Size: [sa.func.coalesce(models.c.file_size, 0)],
        ModelRecordOrderBy.DateAdded: [models.c.created_at],
        ModelRecordOrderBy.DateModified: [models.c.updated_at],
        ModelRecordOrderBy.Path: [models.c.path],
    }
    return [directed(expr) for expr in columns[order_by]] + [models.c.id.asc()]


class SqlModelRecordService(ModelRecordServiceBase):
    def __init__(self, db: Database, logger: logging.Logger) -> None:
        super().__init__()
        self._db = db
        self._logger = logger

    def add_model(self, config: AnyModelConfig) -> AnyModelConfig:
        """Raises DuplicateModelException when the key or the path is already installed."""
        now = utcnow()
        with self._db.begin() as conn:
            insert = sa.insert(models).values(id=config.key, created_at=now, updated_at=now, **_row_values(config))
            self._write(conn, insert, config)
            return self._get(conn, config.key)

    def del_model(self, key: str) -> None:
        with self._db.begin() as conn:
            if conn.execute(sa.delete(models).where(models.c.id == key)).rowcount == 0:
                raise UnknownModelException("model not found")

    def update_model(self, key: str, changes: ModelRecordChanges, allow_class_change: bool = False) -> AnyModelConfig:
        with self._db.begin() as conn:
            record = self._get(conn, key, for_update=True)
            if allow_class_change:
                record = _rebuild_with_changes(record, changes)
            else:
                # Same class: assign in place; pydantic validates each assignment.
                for field_name in changes.model_fields_set:
                    setattr(record, field_name, getattr(changes, field_name))
            self._update_row(conn, key, record)
            return self._get(conn, key)

    def replace_model(self, key: str, new_config: AnyModelConfig) -> AnyModelConfig:
        if key != new_config.key:
            raise ValueError("key does not match new_config.key")
        with self._db.begin() as conn:
            self._update_row(conn, key, new_config)
            return self._get(conn, key)

    def get_model(self, key: str) -> AnyModelConfig:
        with self._db.begin() as conn:
            return self._get(conn, key)

    def get_model_by_hash(self, hash: str) -> AnyModelConfig:
        with self._db.begin() as conn:
            config_json = conn.execute(sa.select(models.c.config).where(models.c.hash == hash).limit(1)).scalar_one_or_none()
        if config_json is None:
            raise UnknownModelException("model not found")
        return _parse(config_json)

    def exists(self, key: str) -> bool:
        with self._db.begin() as conn:
            return conn.execute(sa.select(models.c.id).where(models.c.id == key)).first() is not None

    def search_by_attr(
        self,
        model_name: str | None = None,
        base_model: BaseModelType | None = None,
        model_type: ModelType | None = None,
        model_format: ModelFormat | None = None,
        order_by: ModelRecordOrderBy = ModelRecordOrderBy.Default,
        direction: SQLiteDirection = SQLiteDirection.Ascending,
    ) -> list[AnyModelConfig]:
        query = sa.select(models.c.config).order_by(*_ordering(order_by, direction))
        filters = {models.c.name: model_name, models.c.base: base_model, models.c.type: model_type, models.c.format: model_format}
        for column, wanted in filters.items():
            if wanted:
                query = query.where(column == _value(wanted))
        with self._db.begin() as conn:
            rows = conn.execute(query).scalars().all()
        return [config for config in map(self._parse_or_skip, rows) if config is not None]

    def search_by_path(self, path: str | Path) -> list[AnyModelConfig]:
        return self._configs_where(models.c.path == str(path))

    def search_by_hash(self, hash: str) -> list[AnyModelConfig]:
        return self._configs_where(models.c.hash == hash)

    def list_models(
        self,
        page: int = 0,
        per_page: int = 10,
        order_by: ModelRecordOrderBy = ModelRecordOrderBy.Default,
        direction: SQLiteDirection = SQLiteDirection.Ascending,
    ) -> PaginatedResults[ModelSummary]:
        query = (
            sa.select(models.c.id, models.c.type, models.c.base, models.c.format, models.c.name, models.c.description)
            .order_by(*_ordering(order_by, direction))
            .limit(per_page)
            .offset(page * per_page)
        )
        with self._db.begin() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(models)).scalar_one())
            rows = conn.execute(query).all()
        items = [
            ModelSummary(
                key=r.id, type=r.type, base=r.base, format=r.format, name=r.name, description=r.description or "", tags=set()
            )
            for r in rows
        ]
        return PaginatedResults(page=page, pages=ceil(total / per_page), per_page=per_page, total=total, items=items)

    def _get(self, conn: Connection, key: str, for_update: bool = False) -> AnyModelConfig:
        query = sa.select(models.c.config).where(models.c.id == key)
        if for_update:
            query = query.with_for_update()  # Postgres: no lost update between pods; SQLite ignores it
        config_json = conn.execute(query).scalar_one_or_none()
        if config_json is None:
            raise UnknownModelException("model not found")
        return _parse(config_json)

    def _update_row(self, conn: Connection, key: str, config: AnyModelConfig) -> None:
        statement = sa.update(models).where(models.c.id == key).values(updated_at=utcnow(), **_row_values(config))
        if self._write(conn, statement, config) == 0:
            raise UnknownModelException("model not found")

    @staticmethod
    def _write(conn: Connection, statement: sa.Executable, config: AnyModelConfig) -> int:
        """Run an insert/update in a savepoint; a unique violation becomes DuplicateModelException."""
        try:
            with conn.begin_nested():
                return conn.execute(statement).rowcount
        except sa.exc.IntegrityError as e:
            path_taken = conn.execute(
                sa.select(models.c.id).where(models.c.path == config.path, models.c.id != config.key)
            ).first()
            if path_taken is not None:
                raise DuplicateModelException(f"A model with path '{config.path}' is already installed") from e
            raise DuplicateModelException(f"A model with key '{config.key}' is already installed") from e

    def _configs_where(self, condition: sa.ColumnElement[bool]) -> list[AnyModelConfig]:
        with self._db.begin() as conn:
            rows = conn.execute(sa.select(models.c.config).where(condition)).scalars().all()
        return [_parse(row) for row in rows]

    def _parse_or_skip(self, config_json: str) -> AnyModelConfig | None:
        """Parse a stored config; skip (and log) one this version cannot read, e.g. after a downgrade."""
        try:
            return _parse(config_json)
        except ValidationError as e:
            try:
                name = json.loads(config_json).get("name", "<unknown>")
            except Exception:
                name = "<unknown>"
            snippet = f"{config_json[:64]}..." if len(config_json) > 64 else config_json
            self._logger.warning(
                f"Skipping invalid model config in the database with name {name}. Ignoring this model. ({snippet})"
            )
            self._logger.warning(f"Validation error: {e}")
            return None


def _rebuild_with_changes(record: AnyModelConfig, changes: ModelRecordChanges) -> AnyModelConfig:
    """Apply changes that may change the config class (e.g. LoRA -> Main), as stock does.

    When the type changes, the old `format`/`variant` may not fit the new class: retry
    without them (unless they are part of the changes) so the new class applies its defaults.
    """
    record_as_dict = record.model_dump()
    for field_name in changes.model_fields_set:
        record_as_dict[field_name] = getattr(changes, field_name)
    try:
        return ModelConfigFactory.from_dict(record_as_dict)
    except ValidationError:
        if "type" not in changes.model_fields_set or changes.type == record.type or changes.type is None:
            raise
    fallback = {k: v for k, v in record_as_dict.items() if k not in ("format", "variant") or k in changes.model_fields_set}
    return _construct_config_for_type(fallback, changes.type)
