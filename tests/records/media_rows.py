"""Direct row inserts for images and boards (stamped with the current tenant) for the video/gallery tests."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.tables.media import board_images, boards, images, videos
from tenant_middleware.context import current_tenant_id


def add_board(db: Database, user_id: str = "system") -> str:
    board_id = str(uuid.uuid4())
    now = utcnow()
    with db.begin() as conn:
        conn.execute(
            sa.insert(boards).values(
                tenant_id=current_tenant_id(), board_id=board_id, board_name="b", user_id=user_id,
                created_at=now, updated_at=now,
            )
        )
    return board_id


def add_image(
    db: Database,
    created_at: datetime,
    *,
    board_id: str | None = None,
    starred: bool = False,
    category: str = "general",
    origin: str = "internal",
    is_intermediate: bool = False,
    user_id: str = "system",
    metadata: str | None = None,
    width: int = 64,
    height: int = 48,
) -> str:
    name = f"{uuid.uuid4()}.png"
    with db.begin() as conn:
        conn.execute(
            sa.insert(images).values(
                tenant_id=current_tenant_id(), image_name=name, image_origin=origin, image_category=category,
                width=width, height=height, is_intermediate=is_intermediate, starred=starred, user_id=user_id,
                metadata=metadata, created_at=created_at, updated_at=created_at,
            )
        )
        if board_id is not None:
            conn.execute(
                sa.insert(board_images).values(
                    tenant_id=current_tenant_id(), image_name=name, board_id=board_id,
                    created_at=created_at, updated_at=created_at,
                )
            )
    return name


def set_video_created_at(db: Database, video_name: str, created_at: datetime) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.update(videos)
            .where(videos.c.video_name == video_name, tenant_clause(videos))
            .values(created_at=created_at)
        )


def video_row(db: Database, video_name: str) -> dict[str, Any] | None:
    """The raw row, read in the current scope."""
    with db.begin() as conn:
        row = conn.execute(sa.select(videos).where(videos.c.video_name == video_name, tenant_clause(videos))).first()
    return None if row is None else dict(row._mapping)
