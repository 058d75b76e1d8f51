"""SqlImageMoveService: relocating image files between subfolder strategies, on both backends.

The `images` table is shared by the whole test session, so each test names its images with a
unique prefix and asserts only about them; the global journal rows it creates are removed after.
"""

import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from invokeai.app.services.config import InvokeAIAppConfig
from invokeai.app.services.image_files.image_files_disk import DiskImageFileStorage
from invokeai.app.services.image_moves.image_moves_default import ImageMoveJobAlreadyRunning, ImageMoveQueueActive
from invokeai.app.util.thumbnails import make_thumbnail
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.image_moves import image_subfolder_move_items as items
from invokeai_saas.db.tables.image_moves import image_subfolder_move_jobs as jobs
from invokeai_saas.db.tables.media import images
from invokeai_saas.db.tables.session_queue import session_queue
from invokeai_saas.records.image_moves_sql import SqlImageMoveService
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import as_tenant, system_scope

OLD = "2023/05/06"


class TinyQueue:
    """The one session-queue method the move service calls (the real one is tested below)."""

    def __init__(self, pending: int = 0, in_progress: int = 0) -> None:
        self.pending = pending
        self.in_progress = in_progress

    def active_item_count_all_tenants(self) -> int:
        return self.pending + self.in_progress


@dataclass
class Env:
    db: Database
    files: DiskImageFileStorage
    prefix: str
    names: list[str]

    def service(self, strategy: str = "flat") -> SqlImageMoveService:
        config = InvokeAIAppConfig(image_subfolder_strategy=strategy)
        return SqlImageMoveService(self.db, self.files, config, logging.getLogger("test.image_moves"))

    def add_image(
        self, tenant_id: str, subfolder: str = OLD, *, is_intermediate: bool = False, with_files: bool = True,
        created_at: datetime | None = None,
    ) -> str:
        name = f"{self.prefix}{len(self.names):03d}.png"
        self.names.append(name)
        if with_files:
            self.write_files(name, subfolder)
        now = utcnow()
        with system_scope(), self.db.begin() as conn:
            conn.execute(
                sa.insert(images).values(
                    image_name=name, tenant_id=tenant_id, image_origin="internal", image_category="general", width=8, height=8,
                    is_intermediate=is_intermediate, image_subfolder=subfolder, created_at=created_at or now, updated_at=now,
                )
            )
        return name

    def write_files(self, name: str, subfolder: str) -> None:
        image = Image.new("RGB", (8, 8), (200, 30, 30))
        path = self.files.get_path(name, image_subfolder=subfolder)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, "PNG")
        thumbnail = self.files.get_path(name, thumbnail=True, image_subfolder=subfolder)
        thumbnail.parent.mkdir(parents=True, exist_ok=True)
        make_thumbnail(image).save(thumbnail, "WEBP")

    def paths(self, name: str, subfolder: str) -> tuple[Path, Path]:
        return self.files.get_path(name, image_subfolder=subfolder), self.files.get_path(name, thumbnail=True, image_subfolder=subfolder)

    def row(self, name: str) -> sa.Row:
        with system_scope(), self.db.begin() as conn:
            return conn.execute(sa.select(images).where(images.c.image_name == name)).one()

    def item_states(self) -> dict[str, set[str]]:
        with system_scope(), self.db.begin() as conn:  # the journal is visible to system scope only
            rows = conn.execute(sa.select(items.c.image_name, items.c.state).where(items.c.image_name.in_(self.names))).all()
        states: dict[str, set[str]] = {}
        for row in rows:
            states.setdefault(row.image_name, set()).add(row.state)
        return states


@pytest.fixture
def env(database: Database, tmp_path: Path) -> Iterator[Env]:
    with system_scope(), database.begin() as conn:
        first_new_job = (conn.scalar(sa.select(sa.func.max(jobs.c.id))) or 0) + 1
    e = Env(database, DiskImageFileStorage(tmp_path / "outputs"), f"imgmove-{uuid.uuid4().hex[:12]}-", [])
    yield e
    with system_scope(), database.begin() as conn:
        conn.execute(sa.delete(items).where(sa.or_(items.c.job_id >= first_new_job, items.c.image_name.in_(e.names))))
        conn.execute(sa.delete(jobs).where(jobs.c.id >= first_new_job))
        conn.execute(sa.delete(images).where(images.c.image_name.in_(e.names)))


def assert_moved(env: Env, name: str, old: str, new: str) -> None:
    old_image, old_thumb = env.paths(name, old)
    new_image, new_thumb = env.paths(name, new)
    assert not old_image.exists() and not old_thumb.exists()
    assert new_image.exists() and new_thumb.exists()
    with Image.open(new_image) as image:
        assert image.size == (8, 8)
    assert env.row(name).image_subfolder == new


def test_move_all_moves_every_tenants_images(env: Env, tenant: str, other_tenant: str) -> None:
    mine = [env.add_image(tenant), env.add_image(tenant)]
    theirs = [env.add_image(other_tenant), env.add_image(other_tenant, "ab")]
    settled = env.add_image(tenant, "")
    service = env.service("flat")
    before = service.count_images_needing_move()
    assert before >= 4

    # Called from inside one tenant's scope: the service must still see and move everyone's images.
    result = service.move_all_images()

    assert result.planned >= 4 and result.committed >= 4
    assert service.count_images_needing_move() == before - 4
    for name, old in [(mine[0], OLD), (mine[1], OLD), (theirs[0], OLD), (theirs[1], "ab")]:
        assert_moved(env, name, old, "")
    assert env.row(theirs[0]).tenant_id == other_tenant and env.row(mine[0]).tenant_id == tenant
    assert env.row(settled).image_subfolder == "" and env.paths(settled, "")[0].exists()
    assert not (env.files.image_root / "2023").exists() and not (env.files.thumbnail_root / "2023").exists()
    assert env.item_states() == {name: {"committed"} for name in mine + theirs}
    latest = service.get_latest_job()
    assert latest is not None and service.get_job(latest.id) == latest
    assert service._get_active_job_id() is None and not service.is_maintenance_active()


def test_plan_batch_follows_strategy_and_created_at(env: Env, tenant: str, other_tenant: str) -> None:
    a = env.add_image(tenant, "", created_at=datetime(2024, 3, 5, 10, 0))
    b = env.add_image(other_tenant, "", is_intermediate=True, created_at=datetime(2025, 12, 31, 23, 59))
    moves = env.service("date").plan_batch(last_image_name=env.prefix, limit=2)
    assert [(m.image_name, m.old_subfolder, m.new_subfolder, m.is_intermediate) for m in moves] == [
        (a, "", "2024/03/05", False),
        (b, "", "2025/12/31", True),
    ]
    assert moves[0].new_path == env.files.image_root / "2024/03/05" / a
    typed = env.service("type").plan_batch(last_image_name=env.prefix, limit=2)
    assert [m.new_subfolder for m in typed] == ["general", "intermediate"]


def test_recovery_finishes_a_partial_move(env: Env, tenant: str, other_tenant: str) -> None:
    half_moved = env.add_image(tenant)
    untouched = env.add_image(other_tenant)
    service = env.service("flat")
    moves = service.plan_batch(last_image_name=env.prefix, limit=2)
    job_id = service.create_move_job(moves)
    service._set_job_state(job_id, "moving")
    # Crash mid-move: one image file relocated, its thumbnail not; the other image not at all.
    old_image, _ = env.paths(half_moved, OLD)
    new_image, _ = env.paths(half_moved, "")
    os.replace(old_image, new_image)

    assert service.is_maintenance_active()
    with pytest.raises(ValueError):
        service.create_move_job(moves)
    with pytest.raises(ImageMoveJobAlreadyRunning):
        service.start_background_move_all()
    assert env.row(half_moved).image_subfolder == OLD

    restarted = env.service("flat")
    result = restarted.startup_recovery()

    assert result.committed == 2 and result.errors == 0
    assert_moved(env, half_moved, OLD, "")
    assert_moved(env, untouched, OLD, "")
    assert restarted.get_job(job_id).state == "committed"
    assert env.item_states() == {half_moved: {"committed"}, untouched: {"committed"}}
    assert not restarted.is_maintenance_active()
    assert restarted.startup_recovery().committed == 0


def test_recovery_commits_a_job_whose_files_already_moved(env: Env, tenant: str, other_tenant: str) -> None:
    names = [env.add_image(tenant), env.add_image(other_tenant)]
    service = env.service("flat")
    job_id = service.create_move_job(service.plan_batch(last_image_name=env.prefix, limit=2))
    service.perform_filesystem_moves(job_id)  # then a crash before the database commit
    assert service.get_job(job_id).state == "moved"
    assert env.row(names[0]).image_subfolder == OLD

    assert env.service("flat").startup_recovery().committed == 2
    for name in names:
        assert_moved(env, name, OLD, "")


def test_recovery_marks_unrecoverable_items_and_keeps_the_rest(env: Env, tenant: str) -> None:
    lost = env.add_image(tenant)
    fine = env.add_image(tenant)
    service = env.service("flat")
    job_id = service.create_move_job(service.plan_batch(last_image_name=env.prefix, limit=2))
    for path in env.paths(lost, OLD):
        path.unlink()

    result = env.service("flat").startup_recovery()

    assert result.committed == 1 and result.errors == 1
    job = service.get_job(job_id)
    assert job.state == "error" and job.error_message and "Neither old nor new image file exists" in job.error_message
    assert env.item_states() == {lost: {"error"}, fine: {"committed"}}
    assert env.row(lost).image_subfolder == OLD
    assert_moved(env, fine, OLD, "")
    with pytest.raises(ValueError):
        service.get_job(10**9)


def test_move_all_journals_missing_sources(env: Env, tenant: str, other_tenant: str) -> None:
    missing = env.add_image(tenant, with_files=False)
    missing_intermediate = env.add_image(other_tenant, is_intermediate=True, with_files=False)
    present = env.add_image(other_tenant)

    result = env.service("flat").move_all_images()

    assert result.errors >= 1
    assert env.item_states() == {missing: {"error"}, missing_intermediate: {"committed"}, present: {"committed"}}
    assert env.row(missing).image_subfolder == OLD
    assert env.row(missing_intermediate).image_subfolder == ""
    assert_moved(env, present, OLD, "")


def test_background_move_all_waits_for_an_idle_queue(env: Env, tenant: str, other_tenant: str) -> None:
    names = [env.add_image(tenant), env.add_image(other_tenant)]
    service = env.service("flat")
    queue = TinyQueue(pending=1)
    service.set_session_queue(queue)
    try:
        with pytest.raises(ImageMoveQueueActive):
            service.start_background_move_all()
        assert not service.is_maintenance_active()
        assert env.row(names[0]).image_subfolder == OLD

        queue.pending = 0
        started = service.start_background_move_all()
        assert started.operation == "move_all"
        deadline = time.monotonic() + 30
        while (status := service.get_background_status()).is_running and time.monotonic() < deadline:
            time.sleep(0.05)
        # The worker thread carries no tenant scope of its own; it must still reach every tenant.
        assert not status.is_running and status.last_error is None
        for name in names:
            assert_moved(env, name, OLD, "")
    finally:
        service.stop()


def test_moves_refuse_to_start_while_any_tenant_has_queued_work(env: Env, tenant: str, other_tenant: str) -> None:
    """The operator asking has no tenant; a tenant's pending item must still count (stock counted only the caller's)."""
    queue = SqlSessionQueue(env.db)
    now = utcnow()
    with system_scope(), env.db.begin() as conn:
        item_id = conn.execute(
            sa.insert(session_queue).returning(session_queue.c.item_id).values(
                tenant_id=other_tenant, queue_id="default", session="{}", session_id=str(uuid.uuid4()),
                batch_id=str(uuid.uuid4()), status="pending", priority=0, user_id="someone", created_at=now, updated_at=now,
            )
        ).scalar_one()
    service = env.service("flat")
    service.set_session_queue(queue)
    try:
        with as_tenant(None), pytest.raises(ImageMoveQueueActive):  # an operator's own (platform) scope
            service.start_background_move_all()
        assert not service.is_maintenance_active()
    finally:
        service.stop()
        with system_scope(), env.db.begin() as conn:
            conn.execute(sa.delete(session_queue).where(session_queue.c.item_id == item_id))
