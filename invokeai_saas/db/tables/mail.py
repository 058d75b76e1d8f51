"""The mail outbox (`mail/outbox.py`): messages written in the transaction that caused them, sent by
any pod once it commits. A platform table: only system scope reads or writes it."""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import metadata

mail_outbox = sa.Table(
    "mail_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(255), nullable=False, unique=True),  # the cause: one message per key
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("context", sa.Text, nullable=False),  # JSON, the template's variables
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),  # pending, sent, failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("lease_until", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    sa.Index("ix_mail_outbox_due", "status", "next_attempt_at"),
)
