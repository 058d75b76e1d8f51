"""Images, videos, boards and board membership: InvokeAI's columns plus `tenant_id`."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import metadata, tenant_table


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("deleted_at", sa.DateTime, nullable=True),
    ]


images = tenant_table(
    "images",
    sa.Column("image_name", sa.String(255), primary_key=True),
    sa.Column("image_origin", sa.String(32), nullable=False, index=True),
    sa.Column("image_category", sa.String(32), nullable=False, index=True),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("session_id", sa.String(255), nullable=True),
    sa.Column("node_id", sa.String(255), nullable=True),
    sa.Column("metadata", sa.Text, nullable=True),
    sa.Column("is_intermediate", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("starred", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("has_workflow", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("user_id", sa.String(36), nullable=False, server_default="system", index=True),
    sa.Column("image_subfolder", sa.String(255), nullable=False, server_default=""),
    sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),  # the image and its thumbnail
    *_timestamps(),
    # The gallery page (ORDER BY starred DESC, created_at DESC, image_name DESC) reads this index
    # backwards and stops at the page size; the INCLUDEd columns let Postgres count the page's
    # total with an index-only scan.
    sa.Index(
        "ix_images_tenant_gallery",
        "tenant_id",
        "is_intermediate",
        "starred",
        "created_at",
        "image_name",
        postgresql_include=["image_category", "user_id"],
    ),
    # The same for a member's own uncategorized images (board "none" filters by user_id).
    sa.Index(
        "ix_images_tenant_user_gallery",
        "tenant_id",
        "user_id",
        "is_intermediate",
        "starred",
        "created_at",
        "image_name",
        postgresql_include=["image_category"],
    ),
    sa.Index("ix_images_tenant_created", "tenant_id", "created_at"),
)

boards = tenant_table(
    "boards",
    sa.Column("board_id", sa.String(36), primary_key=True),
    sa.Column("board_name", sa.String(300), nullable=False),
    sa.Column("cover_image_name", sa.String(255), sa.ForeignKey("images.image_name", ondelete="SET NULL"), nullable=True),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("user_id", sa.String(36), nullable=False, server_default="system", index=True),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("board_visibility", sa.String(16), nullable=False, server_default="private"),
    *_timestamps(),
    sa.Index("ix_boards_tenant_created", "tenant_id", "created_at"),
)

board_images = tenant_table(
    "board_images",
    sa.Column("image_name", sa.String(255), sa.ForeignKey("images.image_name", ondelete="CASCADE"), primary_key=True),
    sa.Column("board_id", sa.String(36), sa.ForeignKey("boards.board_id", ondelete="CASCADE"), nullable=False),
    *_timestamps(),
    sa.Index("ix_board_images_board_created", "board_id", "created_at"),
)

videos = tenant_table(
    "videos",
    sa.Column("video_name", sa.String(255), primary_key=True),
    sa.Column("video_origin", sa.String(32), nullable=False, index=True),
    sa.Column("video_category", sa.String(32), nullable=False, index=True),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("duration", sa.Float, nullable=False, server_default="0"),
    sa.Column("fps", sa.Float, nullable=True),
    sa.Column("session_id", sa.String(255), nullable=True),
    sa.Column("node_id", sa.String(255), nullable=True),
    sa.Column("metadata", sa.Text, nullable=True),
    sa.Column("is_intermediate", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("starred", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("has_workflow", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("user_id", sa.String(36), nullable=False, server_default="system", index=True),
    sa.Column("video_subfolder", sa.String(255), nullable=False, server_default=""),
    sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),
    *_timestamps(),
    sa.Index("ix_videos_tenant_created", "tenant_id", "created_at"),
)

board_videos = tenant_table(
    "board_videos",
    sa.Column("video_name", sa.String(255), sa.ForeignKey("videos.video_name", ondelete="CASCADE"), primary_key=True),
    sa.Column("board_id", sa.String(36), sa.ForeignKey("boards.board_id", ondelete="CASCADE"), nullable=False),
    *_timestamps(),
    sa.Index("ix_board_videos_board_created", "board_id", "created_at"),
)

# The S3 media stores' delete journal (`media/delete_journal.py`): objects to delete once their
# record is gone. A platform table: only system scope reads or writes it.
file_deletes = sa.Table(
    "file_deletes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "image" or "video": which records own it
    sa.Column("owner_name", sa.String(255), nullable=False),
    sa.Column("object_key", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_file_deletes_created", "created_at"),
)
