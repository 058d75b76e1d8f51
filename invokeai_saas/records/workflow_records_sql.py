"""InvokeAI's workflow library on SQLAlchemy Core, scoped to the current tenant.

InvokeAI's default workflows are platform rows (tenant_id NULL, category 'default'):
every tenant reads them, none writes them; `sync_default_workflows` maintains them.
"""

import logging
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.shared.pagination import PaginatedResults
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
import invokeai.app.services.workflow_records as stock_workflow_records
from invokeai.app.services.workflow_records.workflow_records_base import WorkflowRecordsStorageBase
from invokeai.app.services.workflow_records.workflow_records_common import (
    WORKFLOW_LIBRARY_DEFAULT_USER_ID,
    Workflow,
    WorkflowCategory,
    WorkflowNotFoundError,
    WorkflowRecordDTO,
    WorkflowRecordListItemDTO,
    WorkflowRecordListItemDTOValidator,
    WorkflowRecordOrderBy,
    WorkflowValidator,
    WorkflowWithoutID,
)
from invokeai.app.util.misc import uuid_string

from invokeai_saas.accounts import audit
from invokeai_saas.db import Database, tenant_clause, utcnow
from invokeai_saas.db.dialect import insert_ignore
from invokeai_saas.db.tables.workflows import workflow_library as wl
from tenant_middleware.context import current_tenant_id, system_scope
from tenant_middleware.errors import ErrorCode, ServiceError

logger = logging.getLogger(__name__)

DEFAULT_WORKFLOWS_DIR = Path(stock_workflow_records.__file__).parent / "default_workflows"

_DTO_COLUMNS = [wl.c[n] for n in ("workflow_id", "workflow", "name", "created_at", "updated_at", "opened_at", "user_id", "is_public")]
_LIST_COLUMNS = [
    wl.c[n]
    for n in ("workflow_id", "category", "name", "description", "created_at", "updated_at", "opened_at", "tags", "user_id", "is_public")
]


def _platform_default() -> sa.ColumnElement[bool]:
    return sa.and_(wl.c.tenant_id.is_(None), wl.c.category == WorkflowCategory.Default.value)


def _readable() -> sa.ColumnElement[bool]:
    """The tenant's workflows plus the platform's default workflows."""
    return sa.or_(tenant_clause(wl), _platform_default())


def _derived(workflow: WorkflowWithoutID) -> dict[str, Any]:
    """The JSON plus the columns the stock schema generates from it."""
    return {
        "workflow": workflow.model_dump_json(),
        "category": workflow.meta.category.value,
        "name": workflow.name,
        "description": workflow.description,
        "tags": workflow.tags,
    }


def _filters(
    categories: Optional[list[WorkflowCategory]],
    has_been_opened: Optional[bool],
    user_id: Optional[str],
    is_public: Optional[bool],
) -> list[sa.ColumnElement[bool]]:
    conditions = [_readable()]
    if categories:
        conditions.append(wl.c.category.in_([WorkflowCategory(c).value for c in categories]))
    if has_been_opened is True:
        conditions.append(wl.c.opened_at.is_not(None))
    elif has_been_opened is False:
        conditions.append(wl.c.opened_at.is_(None))
    if user_id is not None:
        # The user's own workflows, but always include default workflows (as stock).
        conditions.append(sa.or_(wl.c.user_id == user_id, wl.c.category == WorkflowCategory.Default.value))
    if is_public is not None:
        conditions.append(wl.c.is_public == is_public)
    return conditions


def _like(value: str) -> str:
    return f"%{value}%"


def _order_by(order_by: WorkflowRecordOrderBy, direction: SQLiteDirection) -> list[sa.ColumnElement[Any]]:
    column = wl.c[WorkflowRecordOrderBy(order_by).value]
    # NULLs sort as SQLite sorts them (first ascending, last descending) on every backend.
    if SQLiteDirection(direction) is SQLiteDirection.Ascending:
        return [column.asc().nulls_first(), wl.c.workflow_id.asc()]
    return [column.desc().nulls_last(), wl.c.workflow_id.desc()]


class DefaultWorkflowReadOnly(ServiceError, ValueError):
    """Stock's ValueError (its contract), read by the app as the 403 it is."""


class SqlWorkflowRecordsStorage(WorkflowRecordsStorageBase):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker
        self.sync_default_workflows()

    def get(self, workflow_id: str) -> WorkflowRecordDTO:
        with self._db.begin() as conn:
            row = conn.execute(sa.select(*_DTO_COLUMNS).where(wl.c.workflow_id == workflow_id, _readable())).first()
        if row is None:
            raise WorkflowNotFoundError(f"Workflow with id {workflow_id} not found")
        return WorkflowRecordDTO.from_dict(dict(row._mapping))

    def create(
        self,
        workflow: WorkflowWithoutID,
        user_id: str = WORKFLOW_LIBRARY_DEFAULT_USER_ID,
        is_public: bool = False,
    ) -> WorkflowRecordDTO:
        if workflow.meta.category is WorkflowCategory.Default:
            raise DefaultWorkflowReadOnly(ErrorCode.FORBIDDEN, "Default workflows cannot be created via this method")
        workflow_with_id = Workflow(**workflow.model_dump(), id=uuid_string())
        now = utcnow()
        with self._db.begin() as conn:
            conn.execute(
                sa.insert(wl).values(
                    workflow_id=workflow_with_id.id,
                    tenant_id=current_tenant_id(),
                    user_id=user_id,
                    is_public=is_public,
                    created_at=now,
                    updated_at=now,
                    **_derived(workflow_with_id),
                )
            )
            return self.get(workflow_with_id.id)

    def update(self, workflow: Workflow, user_id: Optional[str] = None) -> WorkflowRecordDTO:
        if workflow.meta.category is WorkflowCategory.Default:
            raise DefaultWorkflowReadOnly(ErrorCode.FORBIDDEN, "Default workflows cannot be updated")
        with self._db.begin() as conn:
            conn.execute(self._update_user_workflow(workflow.id, user_id).values(**_derived(workflow), updated_at=utcnow()))
            return self.get(workflow.id)

    def delete(self, workflow_id: str, user_id: Optional[str] = None) -> None:
        with self._db.begin() as conn:
            if self.get(workflow_id).workflow.meta.category is WorkflowCategory.Default:
                raise DefaultWorkflowReadOnly(ErrorCode.FORBIDDEN, "Default workflows cannot be deleted")
            conditions = [wl.c.workflow_id == workflow_id, wl.c.category == WorkflowCategory.User.value, tenant_clause(wl)]
            if user_id is not None:
                conditions.append(wl.c.user_id == user_id)
            gone = conn.execute(sa.delete(wl).where(*conditions).returning(wl.c.workflow_id, wl.c.user_id)).all()
            audit.record(conn, "deleted", "workflow", [tuple(r) for r in gone])

    def update_is_public(self, workflow_id: str, is_public: bool, user_id: Optional[str] = None) -> WorkflowRecordDTO:
        """Updates is_public and keeps the "shared" tag in step with it, as stock does."""
        with self._db.begin() as conn:
            record = self.get(workflow_id)
            workflow = record.workflow
            tags = [t.strip() for t in workflow.tags.split(",") if t.strip()] if workflow.tags else []
            if is_public and "shared" not in tags:
                tags.append("shared")
            elif not is_public and "shared" in tags:
                tags.remove("shared")
            updated = workflow.model_copy(update={"tags": ", ".join(tags)})
            conn.execute(
                self._update_user_workflow(workflow_id, user_id).values(
                    **_derived(updated), is_public=is_public, updated_at=utcnow()
                )
            )
            audit.publicity_changed(conn, "workflow", workflow_id, record.user_id, record.is_public, is_public)
            return self.get(workflow_id)

    def update_opened_at(self, workflow_id: str, user_id: Optional[str] = None) -> None:
        # Platform default workflows are not the tenant's to touch: their opened_at stays as it is.
        conditions = [wl.c.workflow_id == workflow_id, tenant_clause(wl)]
        if user_id is not None:
            conditions.append(wl.c.user_id == user_id)
        now = utcnow()
        with self._db.begin() as conn:
            # updated_at moves too: the stock trigger bumps it on every UPDATE.
            conn.execute(sa.update(wl).where(*conditions).values(opened_at=now, updated_at=now))

    def get_many(
        self,
        order_by: WorkflowRecordOrderBy,
        direction: SQLiteDirection,
        categories: Optional[list[WorkflowCategory]],
        page: int = 0,
        per_page: Optional[int] = None,
        query: Optional[str] = None,
        tags: Optional[list[str]] = None,
        has_been_opened: Optional[bool] = None,
        user_id: Optional[str] = None,
        is_public: Optional[bool] = None,
    ) -> PaginatedResults[WorkflowRecordListItemDTO]:
        conditions = _filters(categories, has_been_opened, user_id, is_public)
        if tags:
            conditions.append(sa.or_(*(wl.c.tags.ilike(_like(t.strip())) for t in tags)))
        stripped_query = query.strip() if query else None
        if stripped_query:
            pattern = _like(stripped_query)
            conditions.append(sa.or_(wl.c.name.ilike(pattern), wl.c.description.ilike(pattern), wl.c.tags.ilike(pattern)))

        stmt = sa.select(*_LIST_COLUMNS).where(*conditions).order_by(*_order_by(order_by, direction))
        if per_page:
            stmt = stmt.limit(per_page).offset(page * per_page)
        with self._db.begin() as conn:
            rows = conn.execute(stmt).all()
            total = conn.execute(sa.select(sa.func.count()).select_from(wl).where(*conditions)).scalar_one()

        items = [WorkflowRecordListItemDTOValidator.validate_python(dict(row._mapping)) for row in rows]
        pages = (total // per_page + (total % per_page > 0)) if per_page else 1
        return PaginatedResults(items=items, page=page, per_page=per_page if per_page else total, pages=pages, total=total)

    def counts_by_tag(
        self,
        tags: list[str],
        categories: Optional[list[WorkflowCategory]] = None,
        has_been_opened: Optional[bool] = None,
        user_id: Optional[str] = None,
        is_public: Optional[bool] = None,
    ) -> dict[str, int]:
        if not tags:
            return {}
        base = _filters(categories, has_been_opened, user_id, is_public)
        with self._db.begin() as conn:
            return {tag: self._count(conn, [*base, wl.c.tags.ilike(_like(tag.strip()))]) for tag in tags}

    def counts_by_category(
        self,
        categories: list[WorkflowCategory],
        has_been_opened: Optional[bool] = None,
        user_id: Optional[str] = None,
        is_public: Optional[bool] = None,
    ) -> dict[str, int]:
        base = _filters(categories, has_been_opened, user_id, is_public)
        with self._db.begin() as conn:
            return {
                WorkflowCategory(c).value: self._count(conn, [*base, wl.c.category == WorkflowCategory(c).value])
                for c in categories
            }

    def get_all_tags(
        self,
        categories: Optional[list[WorkflowCategory]] = None,
        user_id: Optional[str] = None,
        is_public: Optional[bool] = None,
    ) -> list[str]:
        conditions = [*_filters(categories, None, user_id, is_public), wl.c.tags.is_not(None), wl.c.tags != ""]
        with self._db.begin() as conn:
            values = conn.execute(sa.select(wl.c.tags).distinct().where(*conditions)).scalars().all()
        return sorted({tag.strip() for value in values for tag in value.split(",") if tag.strip()})

    def sync_default_workflows(self) -> None:
        """Make the platform's default workflows match the JSON files InvokeAI ships.

        Safe to run from several processes at once (inserts ignore conflicts).
        """
        from_files = {w.id: w for w in map(_load_default_workflow, sorted(DEFAULT_WORKFLOWS_DIR.glob("*.json")))}
        now = utcnow()
        with system_scope(), self._db.begin() as conn:
            rows = conn.execute(sa.select(wl.c.workflow_id, wl.c.workflow).where(_platform_default()))
            in_db = {row.workflow_id: row.workflow for row in rows}
            obsolete = [workflow_id for workflow_id in in_db if workflow_id not in from_files]
            if obsolete:
                logger.debug("Deleting obsolete default workflows %s", obsolete)
                conn.execute(sa.delete(wl).where(_platform_default(), wl.c.workflow_id.in_(obsolete)))
            for workflow_id, workflow in from_files.items():
                if workflow_id not in in_db:
                    logger.debug("Adding default workflow %s (%s)", workflow.name, workflow_id)
                    row = {"workflow_id": workflow_id, "tenant_id": None, "user_id": WORKFLOW_LIBRARY_DEFAULT_USER_ID}
                    insert_ignore(conn, wl, {**row, **_derived(workflow), "created_at": now, "updated_at": now}, ["workflow_id"])
                elif WorkflowValidator.validate_json(in_db[workflow_id]) != workflow:
                    logger.debug("Updating default workflow %s (%s)", workflow.name, workflow_id)
                    stmt = sa.update(wl).where(_platform_default(), wl.c.workflow_id == workflow_id)
                    conn.execute(stmt.values(**_derived(workflow), updated_at=now))

    def _update_user_workflow(self, workflow_id: str, user_id: Optional[str]) -> sa.Update:
        """UPDATE of a user workflow of this tenant (and of `user_id`, when given)."""
        conditions = [wl.c.workflow_id == workflow_id, wl.c.category == WorkflowCategory.User.value, tenant_clause(wl)]
        if user_id is not None:
            conditions.append(wl.c.user_id == user_id)
        return sa.update(wl).where(*conditions)

    @staticmethod
    def _count(conn: sa.Connection, conditions: list[sa.ColumnElement[bool]]) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(wl).where(*conditions)).scalar_one()


def _load_default_workflow(path: Path) -> Workflow:
    workflow = WorkflowValidator.validate_json(path.read_bytes())
    if not workflow.id.startswith("default_"):
        raise ValueError(f'Invalid default workflow ID (must start with "default_"): {workflow.id}')
    if workflow.meta.category is not WorkflowCategory.Default:
        raise ValueError(f"Invalid default workflow category: {workflow.meta.category}")
    return workflow
