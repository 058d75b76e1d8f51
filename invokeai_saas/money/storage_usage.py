"""Bytes each workspace stores (images with their thumbnails, videos), against its plan's quota.

Each media row records its size once its files are written; the workspace's counter
(`tenants.storage_bytes`) moves in the same transaction as that size or as the row's delete
(`DELETE … RETURNING size_bytes`), so concurrent creates and deletes keep it exact. A pod dying
between writing the files and recording their size leaves the row at 0 bytes: `recount` (the
`pingvas recount-storage` command) measures such rows and sets every counter to the sum of its rows.

The quota is kept by `admit`: a new object's size (known once its files are written: a PNG's size
comes from encoding it) is added to the counter by one conditional UPDATE that matches only while
the workspace stores less than its plan allows. Concurrent writes of one workspace are admitted one
after another against the counter the previous one left (the row lock on Postgres, the database
lock on SQLite), so the object that crosses the limit is the only one stored over it; a refused
object is removed by its caller and never counted. A check that reads the counter and then writes
(`check_quota`) is only an early refusal, never the decision.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from billing.entitlements import entitlements, parse_overrides
from invokeai_saas.core.running_claim import Claim
from invokeai_saas.db import Database
from invokeai_saas.db.tables.media import images, videos
from invokeai_saas.db.tables.session_queue import session_queue as sq
from invokeai_saas.db.tables.tenancy import tenants
from tenant_middleware.context import system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

Sizer = Callable[[str, str], int]  # (name, subfolder) -> bytes of its files; 0 when they are gone


def record_size(conn: Connection, table: sa.Table, name_column: str, name: str, size: int) -> None:
    """The size of a media row whose files were measured (recount), and its workspace's counter."""
    tenant_id = _set_size(conn, table, name_column, name, size)
    if tenant_id is not None and size:
        _add(conn, tenant_id, size)


def admit(
    conn: Connection, table: sa.Table, name_column: str, name: str, size: int, claim: Claim | None = None
) -> bool:
    """The size of a media row whose files were just written, counted against its workspace's quota:
    refused (403 storage_quota_exceeded, nothing recorded) once the workspace stores as much as its
    plan allows. Call it inside the transaction that keeps the object; the caller removes a refused one.
    With `claim` (a worker saving an output of the queue item it runs) the row is sized only while
    that claim is still the item's current one. False when no row was sized: none unsized by that
    name, or the claim no longer holds (the caller tells which)."""
    params: dict[str, object] = {"s_name": name, "s_size": size}
    if claim is not None:
        params |= {"c_item": claim.item_id, "c_worker": claim.worker_id, "c_attempt": claim.attempt}
    with_plan = conn.dialect.name == "postgresql"
    sized = conn.execute(_sizing(table, name_column, claim is not None, with_plan), params).first()
    if sized is None:
        return False
    if sized.tenant_id is None or not size:
        return True
    plan = sized if with_plan else conn.execute(_PLAN, {"p_tenant": sized.tenant_id}).first()
    if plan is None or plan.plan is None:
        return True
    limit = entitlements(plan.plan, parse_overrides(plan.overrides)).storage_limit_bytes
    if limit is None:
        _add(conn, sized.tenant_id, size)
        return True
    # Postgres re-checks the condition on the row as the previous writer left it, once its lock is released.
    added = conn.execute(_ADD_UNDER_LIMIT, {"a_tenant": sized.tenant_id, "a_limit": limit, "a_size": size}).rowcount
    if not added:
        stored = conn.execute(sa.select(tenants.c.storage_bytes).where(tenants.c.tenant_id == sized.tenant_id)).scalar_one()
        raise _full(stored, limit)
    return True


# Built once: a worker admits each image it saves.
_ADD_UNDER_LIMIT = (
    sa.update(tenants)
    .where(tenants.c.tenant_id == sa.bindparam("a_tenant"), tenants.c.storage_bytes < sa.bindparam("a_limit"))
    .values(storage_bytes=tenants.c.storage_bytes + sa.bindparam("a_size"))
)
_CLAIM_HELD = sa.exists().where(
    sq.c.item_id == sa.bindparam("c_item"), sq.c.worker_id == sa.bindparam("c_worker"), sq.c.attempt == sa.bindparam("c_attempt")
)
_PLAN = sa.select(tenants.c.plan, tenants.c.overrides).where(tenants.c.tenant_id == sa.bindparam("p_tenant"))
_SIZINGS: dict[tuple[str, str, bool, bool], sa.Update] = {}


def _sizing(table: sa.Table, name_column: str, fenced: bool, with_plan: bool) -> sa.Update:
    """UPDATE the unsized row `s_name` to `s_size` bytes (while the claim `c_*` holds, if `fenced`),
    RETURNING its tenant and, `with_plan`, that tenant's plan: one round trip for what `admit` needs.
    Postgres only: SQLite 3.40 answers NULL for the second of two correlated subqueries in RETURNING
    (the overrides, so a contract's quota went unenforced), so there the plan is a read of its own."""
    key = (table.name, name_column, fenced, with_plan)
    stmt = _SIZINGS.get(key)
    if stmt is None:
        where = [table.c[name_column] == sa.bindparam("s_name"), table.c.size_bytes == 0]
        if fenced:
            where.append(_CLAIM_HELD)
        of_tenant = tenants.c.tenant_id == table.c.tenant_id
        plan = [
            sa.select(tenants.c.plan).where(of_tenant).correlate(table).scalar_subquery().label("plan"),
            sa.select(tenants.c.overrides).where(of_tenant).correlate(table).scalar_subquery().label("overrides"),
        ]
        stmt = sa.update(table).where(*where).values(size_bytes=sa.bindparam("s_size"))
        stmt = stmt.returning(table.c.tenant_id, *(plan if with_plan else []))
        _SIZINGS[key] = stmt
    return stmt


def _set_size(conn: Connection, table: sa.Table, name_column: str, name: str, size: int) -> str | None:
    """Sets a row's size (only while unset); its tenant, or None when there is no such unsized row."""
    return conn.execute(
        sa.update(table)
        .where(table.c[name_column] == name, table.c.size_bytes == 0)
        .values(size_bytes=size)
        .returning(table.c.tenant_id)
    ).scalar()


def release(conn: Connection, deleted: Iterable[tuple[str | None, int]]) -> None:
    """Deleted media rows' (tenant_id, size_bytes): their workspaces' counters go down."""
    freed: dict[str, int] = defaultdict(int)
    for tenant_id, size in deleted:
        if tenant_id is not None and size:
            freed[tenant_id] += size
    for tenant_id in sorted(freed):  # a fixed order: two deletes never wait on each other's rows
        _add(conn, tenant_id, -freed[tenant_id])


def _add(conn: Connection, tenant_id: str, size: int) -> None:
    conn.execute(
        sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(storage_bytes=tenants.c.storage_bytes + size)
    )


def check_quota(conn: Connection, tenant_id: str | None) -> None:
    """Refuses (403 storage_quota_exceeded) once the workspace stores as much as its plan allows: an
    early refusal before anything is written (`admit` decides)."""
    if tenant_id is None:
        return
    row = conn.execute(
        sa.select(tenants.c.plan, tenants.c.overrides, tenants.c.storage_bytes).where(tenants.c.tenant_id == tenant_id)
    ).first()
    if row is None:
        return
    quota_refusal(row.storage_bytes, entitlements(row.plan, parse_overrides(row.overrides)).storage_limit_bytes)


def quota_refusal(stored: int, limit: int | None) -> None:
    if limit is not None and stored >= limit:
        raise _full(stored, limit)


def _full(stored: int, limit: int) -> ServiceError:
    return ServiceError(
        ErrorCode.STORAGE_QUOTA_EXCEEDED,
        f"Storage is full: the workspace stores {_gb(stored)} of the {_gb(limit)} its plan includes. "
        "Delete images or videos, or upgrade your plan.",
    )


def _gb(size: int) -> str:
    return f"{size / 1024**3:.2f} GB"


def recount(db: Database, image_sizer: Sizer | None = None, video_sizer: Sizer | None = None) -> dict[str, tuple[int, int]]:
    """Measures rows left at 0 bytes (when sizers are given) and sets each workspace's counter to the
    sum of its rows; returns {tenant_id: (counter before, after)} for those that drifted."""
    with system_scope():
        for table, column, sizer in ((images, "image_name", image_sizer), (videos, "video_name", video_sizer)):
            if sizer is not None:
                _measure_unsized(db, table, column, sizer)
        with db.begin() as conn:
            tenant_ids = list(conn.execute(sa.select(tenants.c.tenant_id).order_by(tenants.c.tenant_id)).scalars())
        return {tenant_id: drift for tenant_id in tenant_ids if (drift := _recount_one(db, tenant_id)) is not None}


def _measure_unsized(db: Database, table: sa.Table, column: str, sizer: Sizer) -> None:
    subfolder = table.c.image_subfolder if table is images else table.c.video_subfolder
    with db.begin() as conn:
        rows = conn.execute(sa.select(table.c[column], subfolder).where(table.c.size_bytes == 0)).all()
    for name, folder in rows:
        size = sizer(name, folder or "")
        if size:
            with db.begin() as conn:
                record_size(conn, table, column, name, size)


def _recount_one(db: Database, tenant_id: str) -> tuple[int, int] | None:
    with db.begin() as conn:
        before = conn.execute(
            sa.select(tenants.c.storage_bytes).where(tenants.c.tenant_id == tenant_id).with_for_update()
        ).scalar_one()
        after = sum(
            conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.c.size_bytes), 0)).where(t.c.tenant_id == tenant_id)).scalar_one()
            for t in (images, videos)
        )
        if before == after:
            return None
        conn.execute(sa.update(tenants).where(tenants.c.tenant_id == tenant_id).values(storage_bytes=after))
    return before, after
