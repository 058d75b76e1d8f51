"""The delete journal of the S3 media stores, in the database (stock keeps it in `.delete_*` folders
on the pod's disk, which no other pod sees and a replaced pod loses).

A delete is recorded here before the records that reference its objects go (`record`), and erased
once the objects are gone (`erase`) or the delete is abandoned. A pod that dies in between leaves
rows behind; `recover` (any pod, at start-up, one at a time across the cluster) deletes the objects
of every row old enough to belong to a dead delete whose record is gone, and erases the rows whose
record is still there (the delete never happened). Nothing is deleted while its record exists.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from invokeai_saas.db.database import Database, utcnow
from invokeai_saas.db.tables.media import file_deletes, images, videos
from invokeai_saas.media.s3 import ObjectStore
from tenant_middleware.context import system_scope

IMAGE = "image"
VIDEO = "video"
_OWNERS = {IMAGE: (images, images.c.image_name), VIDEO: (videos, videos.c.video_name)}


@dataclass(frozen=True)
class JournalEntry:
    ids: tuple[int, ...]


class DeleteJournal:
    def __init__(self, db: Database, grace: timedelta = timedelta(minutes=10)) -> None:
        self._db = db
        self.grace = grace  # a live delete finishes well within this; older rows belong to dead ones

    def record(self, kind: str, objects: Sequence[tuple[str, str]]) -> JournalEntry:
        """Records (owner name, object key) pairs to delete; committed before this returns."""
        if not objects:
            return JournalEntry(())
        now = utcnow()
        rows = [{"kind": kind, "owner_name": name, "object_key": key, "created_at": now} for name, key in objects]
        with system_scope(), self._db.begin() as conn:
            ids = conn.scalars(sa.insert(file_deletes).returning(file_deletes.c.id), rows).all()
        return JournalEntry(tuple(ids))

    def erase(self, entry: JournalEntry, owner_names: set[str] | None = None) -> None:
        """Forgets an entry's rows (those of `owner_names` only, if given): done, or abandoned."""
        if not entry.ids:
            return
        where = file_deletes.c.id.in_(entry.ids)
        if owner_names is not None:
            where = sa.and_(where, file_deletes.c.owner_name.in_(owner_names))
        with system_scope(), self._db.begin() as conn:
            conn.execute(sa.delete(file_deletes).where(where))

    def recover(self, store: ObjectStore) -> int:
        """Finishes the deletes of dead pods; returns how many objects it deleted."""
        deleted = 0
        with self._db.cluster_lock("media-delete-recovery") as held:
            if not held:
                return 0  # another pod is recovering right now
            with system_scope(), self._db.begin() as conn:
                rows = conn.execute(
                    sa.select(file_deletes.c.id, file_deletes.c.kind, file_deletes.c.owner_name, file_deletes.c.object_key)
                    .where(file_deletes.c.created_at < utcnow() - self.grace)
                ).all()
                live = self._still_referenced(conn, rows)
            doomed = [r for r in rows if (r.kind, r.owner_name) not in live]
            if doomed:
                store.delete_many([r.object_key for r in doomed])
                deleted = len(doomed)
            with system_scope(), self._db.begin() as conn:
                conn.execute(sa.delete(file_deletes).where(file_deletes.c.id.in_([r.id for r in rows])))
        return deleted

    @staticmethod
    def _still_referenced(conn: sa.Connection, rows: Sequence[sa.Row]) -> set[tuple[str, str]]:
        live: set[tuple[str, str]] = set()
        for kind, (table, name_column) in _OWNERS.items():
            names = {r.owner_name for r in rows if r.kind == kind}
            if names:
                found = conn.execute(sa.select(name_column).where(name_column.in_(names))).scalars()
                live |= {(kind, name) for name in found}
        return live
