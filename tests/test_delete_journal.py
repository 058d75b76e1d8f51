"""The S3 media stores' delete journal in the database (SQLite and Postgres, a real S3 server): a pod
that dies in the middle of a delete loses no image whose record is still there, and the next pod to
start removes the objects of records that are gone."""

import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from invokeai_saas.db import Database
from invokeai_saas.db.database import utcnow
from invokeai_saas.db.tables.media import file_deletes, images, videos
from invokeai_saas.media.delete_journal import DeleteJournal
from invokeai_saas.media.image_files_s3 import S3ImageFileStorage
from invokeai_saas.media.media_files_s3 import S3VideoFileStorage
from invokeai_saas.media.s3 import ObjectStore
from tenant_middleware.context import as_tenant, system_scope
from tests.db_fixtures import make_tenant
from tests.s3_server import S3Server, s3_server  # noqa: F401
from tests.test_storage_s3 import picture

KEYS = ("images/a.png", "thumbnails/a.webp")


@pytest.fixture
def store(s3_server: S3Server) -> ObjectStore:  # noqa: F811
    return ObjectStore(s3_server.client(), s3_server.bucket, f"tests/{uuid.uuid4().hex}")


@pytest.fixture
def journal(database: Database) -> DeleteJournal:
    with system_scope(), database.begin() as conn:
        conn.execute(sa.delete(file_deletes))
    return DeleteJournal(database, grace=timedelta(0))


def pod(store: ObjectStore, tmp_path: Path, journal: DeleteJournal) -> S3ImageFileStorage:
    return S3ImageFileStorage(store, tmp_path / uuid.uuid4().hex, journal)


def start(images_store: S3ImageFileStorage) -> None:
    images_store.start(SimpleNamespace())  # type: ignore[arg-type]


def image_record(database: Database, tenant: str, name: str) -> None:
    now = utcnow()
    with as_tenant(tenant), database.begin() as conn:
        conn.execute(
            sa.insert(images).values(
                tenant_id=tenant, image_name=name, image_origin="internal", image_category="general",
                width=8, height=8, created_at=now, updated_at=now,
            )
        )


def drop_image_record(database: Database, tenant: str, name: str) -> None:
    with as_tenant(tenant), database.begin() as conn:
        conn.execute(sa.delete(images).where(images.c.image_name == name))


def journal_rows(database: Database) -> int:
    with system_scope(), database.begin() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(file_deletes)).scalar_one()


def save(images_store: S3ImageFileStorage, name: str = "a.png") -> None:
    images_store.save(picture((16, 16)), name)


def test_a_delete_that_died_after_its_records_went_is_finished_by_the_next_pod(
    store: ObjectStore, tmp_path: Path, journal: DeleteJournal, database: Database
) -> None:
    tenant = make_tenant(database)
    dying = pod(store, tmp_path, journal)
    save(dying)
    image_record(database, tenant, "a.png")
    dying.begin_delete([("a.png", "")])
    drop_image_record(database, tenant, "a.png")
    # ... and the pod is killed before commit_delete: the objects are still there, the journal knows.
    assert all(store.exists(k) for k in KEYS) and journal_rows(database) == 2

    start(pod(store, tmp_path, journal))
    assert not any(store.exists(k) for k in KEYS)
    assert journal_rows(database) == 0


def test_a_delete_that_died_before_its_records_went_deletes_nothing(
    store: ObjectStore, tmp_path: Path, journal: DeleteJournal, database: Database
) -> None:
    tenant = make_tenant(database)
    dying = pod(store, tmp_path, journal)
    save(dying)
    image_record(database, tenant, "a.png")
    dying.stage_delete("a.png")  # killed here: the record was never deleted
    start(pod(store, tmp_path, journal))
    assert all(store.exists(k) for k in KEYS)
    assert journal_rows(database) == 0


def test_finished_and_abandoned_deletes_leave_no_journal(
    store: ObjectStore, tmp_path: Path, journal: DeleteJournal, database: Database
) -> None:
    images_store = pod(store, tmp_path, journal)
    save(images_store, "a.png")
    save(images_store, "b.png")
    images_store.abandon_delete(images_store.begin_delete([("a.png", "")]))
    images_store.rollback_delete(images_store.stage_delete("a.png"))
    assert journal_rows(database) == 0 and store.exists("images/a.png")
    token = images_store.begin_delete([("a.png", ""), ("b.png", "")])
    images_store.commit_delete(token, image_names=["b.png"])  # only b's record went
    assert journal_rows(database) == 0
    assert store.exists("images/a.png") and not store.exists("images/b.png")


def test_a_recent_delete_may_belong_to_a_live_pod_and_is_left_alone(
    store: ObjectStore, tmp_path: Path, database: Database
) -> None:
    with system_scope(), database.begin() as conn:
        conn.execute(sa.delete(file_deletes))
    patient = DeleteJournal(database, grace=timedelta(minutes=10))
    live = pod(store, tmp_path, patient)
    save(live)
    token = live.begin_delete([("a.png", "")])  # no record: as if it had just been deleted
    start(pod(store, tmp_path, patient))
    assert all(store.exists(k) for k in KEYS) and journal_rows(database) == 2
    live.commit_delete(token)
    assert not store.exists("images/a.png") and journal_rows(database) == 0


def test_a_dead_video_delete_is_finished_too(store: ObjectStore, tmp_path: Path, journal: DeleteJournal, database: Database) -> None:
    tenant = make_tenant(database)
    source = tmp_path / "upload.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))
    dying = S3VideoFileStorage(store, tmp_path / "v", journal)
    dying.save(source, "v.mp4", first_frame=picture((16, 16)))
    now = utcnow()
    with as_tenant(tenant), database.begin() as conn:
        conn.execute(sa.insert(videos).values(
            tenant_id=tenant, video_name="v.mp4", video_origin="internal", video_category="general",
            width=16, height=16, created_at=now, updated_at=now,
        ))
    dying.stage_delete("v.mp4")
    with as_tenant(tenant), database.begin() as conn:
        conn.execute(sa.delete(videos).where(videos.c.video_name == "v.mp4"))
    start(pod(store, tmp_path, journal))
    assert not store.exists("videos/v.mp4") and journal_rows(database) == 0
