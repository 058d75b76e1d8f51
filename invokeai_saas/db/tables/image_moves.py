"""The image-subfolder move journal: an operator maintenance feature, global (not tenant-owned)."""

import sqlalchemy as sa

from invokeai_saas.db.database import utcnow
from invokeai_saas.db.tables.base import SYSTEM_ONLY_TABLES, metadata

image_subfolder_move_jobs = sa.Table(
    "image_subfolder_move_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, default=utcnow),
    # InvokeAI keeps this fresh with a trigger; SQLAlchemy's onupdate does it for Core updates.
    sa.Column("updated_at", sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.CheckConstraint("state IN ('planned', 'moving', 'moved', 'committed', 'error')", name="state"),
    sa.Index("ix_image_subfolder_move_jobs_state_id", "state", "id"),
)

image_subfolder_move_items = sa.Table(
    "image_subfolder_move_items",
    metadata,
    sa.Column("job_id", sa.Integer, sa.ForeignKey("image_subfolder_move_jobs.id"), primary_key=True),
    # CASCADE (stock: no action) so deleting a once-moved image is not blocked by its journal rows.
    sa.Column("image_name", sa.String(255), sa.ForeignKey("images.image_name", ondelete="CASCADE"), primary_key=True),
    sa.Column("old_subfolder", sa.String(255), nullable=False),
    sa.Column("new_subfolder", sa.String(255), nullable=False),
    sa.Column("is_intermediate", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("old_path", sa.Text, nullable=True),
    sa.Column("new_path", sa.Text, nullable=True),
    sa.Column("old_thumbnail_path", sa.Text, nullable=True),
    sa.Column("new_thumbnail_path", sa.Text, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.CheckConstraint("state IN ('planned', 'moved', 'committed', 'error')", name="state"),
    sa.Index("ix_image_subfolder_move_items_job_state", "job_id", "state"),
    sa.Index("ix_image_subfolder_move_items_image_name", "image_name"),
)

# The journal names tenants' images but has no tenant column: only system-scope maintenance reads it.
SYSTEM_ONLY_TABLES.extend(["image_subfolder_move_jobs", "image_subfolder_move_items"])
