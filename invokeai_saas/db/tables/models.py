"""The model catalog and model-to-model relationships: one global catalog, not tenant-owned.

InvokeAI derives `hash`, `base`, `type`, … from the JSON config with SQLite generated
columns; here the record service fills them from the config in Python, so filters and
ordering work on both dialects.
"""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import metadata

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("hash", sa.String, nullable=False, index=True),
    sa.Column("base", sa.String(64), nullable=False, index=True),
    sa.Column("type", sa.String(64), nullable=False, index=True),
    sa.Column("path", sa.String, nullable=False, unique=True),
    sa.Column("format", sa.String(64), nullable=False),
    sa.Column("name", sa.String, nullable=False, index=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Each pair is stored once, with model_key_1 < model_key_2.
model_relationships = sa.Table(
    "model_relationships",
    metadata,
    sa.Column("model_key_1", sa.String, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("model_key_2", sa.String, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
