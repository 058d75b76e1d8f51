"""InvokeAI's model relationship records on SQLAlchemy Core (global, like the model catalog)."""

import sqlalchemy as sa
from invokeai.app.services.model_relationship_records.model_relationship_records_base import (
    ModelRelationshipRecordStorageBase,
)

from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.dialect import insert_ignore
from invokeai_saas.db.tables.models import model_relationships as rel


class SqlModelRelationshipRecordStorage(ModelRelationshipRecordStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def add_model_relationship(self, model_key_1: str, model_key_2: str) -> None:
        """Relate two models (stored once, smaller key first); relating them again is a no-op."""
        if model_key_1 == model_key_2:
            raise ValueError("Cannot relate a model to itself.")
        a, b = sorted([model_key_1, model_key_2])
        with self._db.begin() as conn:
            try:
                with conn.begin_nested():
                    row = {"model_key_1": a, "model_key_2": b, "created_at": utcnow()}
                    insert_ignore(conn, rel, row, key=["model_key_1", "model_key_2"])
            except sa.exc.IntegrityError as e:  # a key that names no model
                raise ValueError(f"Cannot relate unknown models: {a}, {b}") from e

    def remove_model_relationship(self, model_key_1: str, model_key_2: str) -> None:
        a, b = sorted([model_key_1, model_key_2])
        with self._db.begin() as conn:
            conn.execute(sa.delete(rel).where(rel.c.model_key_1 == a, rel.c.model_key_2 == b))

    def get_related_model_keys(self, model_key: str) -> list[str]:
        return self.get_related_model_keys_batch([model_key])

    def get_related_model_keys_batch(self, model_keys: list[str]) -> list[str]:
        """Every key related to any of `model_keys`, once each."""
        query = sa.union(
            sa.select(rel.c.model_key_2.label("key")).where(rel.c.model_key_1.in_(model_keys)),
            sa.select(rel.c.model_key_1.label("key")).where(rel.c.model_key_2.in_(model_keys)),
        ).order_by("key")
        with self._db.begin() as conn:
            return list(conn.execute(query).scalars())
