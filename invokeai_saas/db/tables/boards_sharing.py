"""InvokeAI's `shared_boards`: a board shared with one user (read by the board list's visibility rule)."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

shared_boards = tenant_table(
    "shared_boards",
    sa.Column("board_id", sa.String(36), sa.ForeignKey("boards.board_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True, index=True),
    sa.Column("can_edit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("shared_at", sa.DateTime, nullable=False),
)
