"""InvokeAI's per-user client (UI) state plus `tenant_id`.

User ids are global (a user belongs to one tenant), so (user_id, key) stays the key.
"""

import sqlalchemy as sa

from invokeai_saas.db.tables.base import tenant_table

client_state = tenant_table(
    "client_state",
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
