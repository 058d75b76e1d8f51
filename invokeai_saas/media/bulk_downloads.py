"""InvokeAI's bulk downloads, with each zip's owner kept per tenant in the database.

Stock keeps "who asked for this zip" in one process's memory and serves a zip it has no owner for to
anyone who names it: on several pods, or for another workspace, that is either a 404 that should be
a download or a download that should be a 404. Here the owner row is written in the requesting
tenant's scope before the zip is made, and a zip is served (or deleted) only when that row is
visible in the caller's scope. Zips live under the outputs folder, shared by the pods.
"""

from pathlib import Path
from typing import Optional

import sqlalchemy as sa
from invokeai.app.services.bulk_download.bulk_download_common import BulkDownloadTargetException
from invokeai.app.services.bulk_download.bulk_download_default import BulkDownloadService
from invokeai.app.util.misc import uuid_string

from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.tables.workspace import bulk_downloads
from tenant_middleware.context import current_tenant_id


MAX_BOARD_NAME_BYTES = 100  # + "_" + a uuid + ".zip" stays well under 255 bytes


class SqlBulkDownloadService(BulkDownloadService):
    def __init__(self, db: Database, folder: Path) -> None:  # stock's temporary folder is per process
        self._db = db
        self._download_owners = _Forgetful()  # stock's in-memory owners; ours are rows
        self._bulk_downloads_folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def handler(
        self,
        image_names: Optional[list[str]],
        board_id: Optional[str],
        bulk_download_item_id: Optional[str],
        user_id: str = "system",
    ) -> None:
        item_id = bulk_download_item_id or uuid_string()
        with self._db.begin() as conn:
            conn.execute(sa.insert(bulk_downloads).values(
                item_name=f"{item_id}.zip", user_id=user_id, tenant_id=current_tenant_id(), created_at=utcnow()
            ))
        super().handler(image_names, board_id, item_id, user_id)

    def _get_clean_board_name(self, board_id: str) -> str:
        """Bounded: the zip is named after the board, and a file name longer than the file system
        allows (board names may be long) failed the download after its 202 had been sent."""
        name = super()._get_clean_board_name(board_id)
        return name.encode()[:MAX_BOARD_NAME_BYTES].decode(errors="ignore")

    def get_owner(self, bulk_download_item_name: str) -> Optional[str]:
        with self._db.read() as conn:
            return conn.execute(
                sa.select(bulk_downloads.c.user_id)
                .where(bulk_downloads.c.item_name == bulk_download_item_name, tenant_clause(bulk_downloads))
            ).scalar_one_or_none()

    def get_path(self, bulk_download_item_name: str) -> str:
        if self.get_owner(bulk_download_item_name) is None:
            raise BulkDownloadTargetException()
        return super().get_path(bulk_download_item_name)

    def delete(self, bulk_download_item_name: str) -> None:
        path = Path(self.get_path(bulk_download_item_name))
        with self._db.begin() as conn:
            conn.execute(sa.delete(bulk_downloads).where(
                bulk_downloads.c.item_name == bulk_download_item_name, tenant_clause(bulk_downloads)
            ))
        path.unlink(missing_ok=True)

    def stop(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        pass  # the zips are on shared storage; each is deleted once fetched


class _Forgetful(dict):  # type: ignore[type-arg]
    def __setitem__(self, key: object, value: object) -> None:
        pass
