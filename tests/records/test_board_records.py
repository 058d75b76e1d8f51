"""SqlBoardRecordStorage and SqlBoardImageRecordStorage on SQLite and Postgres, plus tenant isolation."""

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from invokeai.app.services.board_records.board_records_common import (
    BoardChanges,
    BoardRecordNotFoundException,
    BoardRecordOrderBy,
    BoardRecordSaveException,
    BoardVisibility,
)
from invokeai.app.services.image_records.image_records_common import (
    ImageCategory,
    ImageRecordNotFoundException,
    ResourceOrigin,
)
from invokeai.app.services.shared.sqlite.sqlite_common import SQLiteDirection
from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.boards_sharing import shared_boards
from invokeai_saas.db.tables.tenancy import users
from invokeai_saas.records.board_image_records_sql import SqlBoardImageRecordStorage
from invokeai_saas.records.board_records_sql import SqlBoardRecordStorage
from invokeai_saas.records.image_records_sql import SqlImageRecordStorage
from tenant_middleware.context import as_tenant, system_scope

DESC, ASC = SQLiteDirection.Descending, SQLiteDirection.Ascending
BY_CREATED, BY_NAME = BoardRecordOrderBy.CreatedAt, BoardRecordOrderBy.Name


@pytest.fixture
def boards(database: Database) -> SqlBoardRecordStorage:
    return SqlBoardRecordStorage(database)


@pytest.fixture
def links(database: Database) -> SqlBoardImageRecordStorage:
    return SqlBoardImageRecordStorage(database)


@pytest.fixture
def image_store(database: Database) -> SqlImageRecordStorage:
    return SqlImageRecordStorage(database)


@pytest.fixture
def member(database: Database, tenant: str) -> Iterator[str]:
    """A real user of the tenant (shared_boards references users); removed afterwards."""
    user_id = str(uuid.uuid4())
    now = utcnow()
    with database.begin() as conn:
        conn.execute(
            sa.insert(users).values(
                user_id=user_id, email=f"{user_id}@example.com", password_hash="x", created_at=now, updated_at=now,
                tenant_id=tenant, tenant_role="member",
            )
        )
    yield user_id
    with system_scope(), database.begin() as conn:
        conn.execute(sa.delete(users).where(users.c.user_id == user_id))


def _image(store: SqlImageRecordStorage, category: ImageCategory = ImageCategory.GENERAL, *, user_id: str = "alice", intermediate: bool = False) -> str:
    name = f"{uuid.uuid4().hex}.png"
    store.save(name, ResourceOrigin.INTERNAL, category, 8, 8, False, is_intermediate=intermediate, user_id=user_id)
    return name


def _ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [r.board_id for r in records]


# --- board records -----------------------------------------------------------------------


def test_save_get_update(boards: SqlBoardRecordStorage, image_store: SqlImageRecordStorage, tenant: str) -> None:
    board = boards.save("Cats", "alice")
    assert (board.board_name, board.user_id, board.archived, board.board_visibility) == ("Cats", "alice", False, BoardVisibility.Private)
    assert board.cover_image_name is None and boards.get(board.board_id) == board
    cover = _image(image_store)
    updated = boards.update(
        board.board_id,
        BoardChanges(board_name="Dogs", cover_image_name=cover, archived=True, board_visibility=BoardVisibility.Public),
    )
    assert (updated.board_name, updated.cover_image_name, updated.archived, updated.board_visibility) == ("Dogs", cover, True, BoardVisibility.Public)
    assert updated.updated_at >= board.updated_at
    image_store.delete(cover)  # ON DELETE SET NULL
    assert boards.get(board.board_id).cover_image_name is None


def test_missing_board(boards: SqlBoardRecordStorage, tenant: str) -> None:
    with pytest.raises(BoardRecordNotFoundException):
        boards.get("nope")
    with pytest.raises(BoardRecordNotFoundException):
        boards.update("nope", BoardChanges(board_name="x"))
    boards.delete("nope")
    board = boards.save("B", "alice")
    with pytest.raises(BoardRecordSaveException):
        boards.update(board.board_id, BoardChanges(cover_image_name="nope.png"))
    boards.delete(board.board_id)
    with pytest.raises(BoardRecordNotFoundException):
        boards.get(board.board_id)


def test_listing_visibility(boards: SqlBoardRecordStorage, tenant: str, member: str, database: Database) -> None:
    own = boards.save("own", member).board_id
    private = boards.save("private", "alice").board_id
    shared = boards.save("shared", "alice").board_id
    public = boards.save("public", "alice").board_id
    shared_with_me = boards.save("direct", "alice").board_id
    archived = boards.save("archived", "alice").board_id
    boards.update(shared, BoardChanges(board_visibility=BoardVisibility.Shared))
    boards.update(public, BoardChanges(board_visibility=BoardVisibility.Public))
    boards.update(archived, BoardChanges(board_visibility=BoardVisibility.Public, archived=True))
    with database.begin() as conn:
        conn.execute(sa.insert(shared_boards).values(tenant_id=tenant, board_id=shared_with_me, user_id=member, shared_at=utcnow()))

    visible = [own, shared, public, shared_with_me]
    assert _ids(boards.get_all(member, False, BY_CREATED, ASC)) == visible
    assert _ids(boards.get_all(member, False, BY_CREATED, ASC, include_archived=True)) == [*visible, archived]
    assert _ids(boards.get_all("alice", True, BY_CREATED, ASC)) == [own, private, shared, public, shared_with_me]
    page = boards.get_many(member, False, BY_CREATED, DESC, offset=1, limit=2)
    assert (_ids(page.items), page.total, page.offset, page.limit) == ([public, shared], 4, 1, 2)
    assert boards.get_many("alice", True, BY_CREATED, DESC, limit=100, include_archived=True).total == 6
    assert boards.get_many("nobody", False, BY_CREATED, DESC).total == 2  # the shared and the public one


def test_name_order(boards: SqlBoardRecordStorage, tenant: str) -> None:
    b, a, c = (boards.save(n, "alice").board_id for n in ("b", "A", "C"))
    # get_all folds case (stock LOWER(board_name)); get_many orders by the raw name, as stock.
    assert _ids(boards.get_all("alice", False, BY_NAME, ASC)) == [a, b, c]
    assert _ids(boards.get_all("alice", False, BY_NAME, DESC)) == [c, b, a]
    assert _ids(boards.get_many("alice", False, BY_NAME, ASC).items)[0] == a


def test_boards_of_other_tenant(boards: SqlBoardRecordStorage, image_store: SqlImageRecordStorage, tenant: str, other_tenant: str) -> None:
    board = boards.save("Mine", "alice").board_id
    boards.update(board, BoardChanges(board_visibility=BoardVisibility.Public))
    with as_tenant(other_tenant):
        theirs = _image(image_store)
        assert boards.get_all("alice", True, BY_CREATED, ASC, include_archived=True) == []
        assert boards.get_many("alice", True, BY_CREATED, ASC).total == 0
        with pytest.raises(BoardRecordNotFoundException):
            boards.get(board)
        with pytest.raises(BoardRecordNotFoundException):
            boards.update(board, BoardChanges(board_name="pwned"))
        boards.delete(board)
    with pytest.raises(BoardRecordSaveException):  # another tenant's image is no cover
        boards.update(board, BoardChanges(cover_image_name=theirs))
    assert boards.get(board).board_name == "Mine"


# --- board images ------------------------------------------------------------------------


def test_board_membership(boards: SqlBoardRecordStorage, links: SqlBoardImageRecordStorage, image_store: SqlImageRecordStorage, tenant: str) -> None:
    first, second = boards.save("1", "alice").board_id, boards.save("2", "alice").board_id
    general = _image(image_store)
    control = _image(image_store, ImageCategory.CONTROL)
    bobs = _image(image_store, user_id="bob")
    temp = _image(image_store, intermediate=True)
    loose = _image(image_store)
    for name in (general, control, bobs, temp):
        links.add_image_to_board(first, name)

    assert links.get_board_for_image(general) == first and links.get_board_for_image(loose) is None
    assert (links.get_image_count_for_board(first), links.get_asset_count_for_board(first)) == (2, 1)
    assert sorted(links.get_all_board_image_names_for_board(first, None, None)) == sorted([general, control, bobs, temp])
    assert sorted(links.get_all_board_image_names_for_board(first, [ImageCategory.GENERAL], False)) == sorted([general, bobs])
    assert links.get_all_board_image_names_for_board(first, None, None, user_id="bob") == [bobs]
    assert links.get_all_board_image_names_for_board(first, None, True) == [temp]
    assert loose in links.get_all_board_image_names_for_board("none", None, None)
    assert general not in links.get_all_board_image_names_for_board("none", None, None)

    links.add_image_to_board(second, general)  # moves: one board per image
    assert links.get_board_for_image(general) == second and links.get_image_count_for_board(first) == 1
    assert links.remove_image_from_board(general, first) == 0  # scoped to the board named
    assert links.remove_image_from_board(general, second) == 1
    assert links.get_board_for_image(general) is None

    with pytest.raises(ImageRecordNotFoundException):
        links.add_image_to_board(first, "nope.png")
    with pytest.raises(BoardRecordNotFoundException):
        links.add_image_to_board("nope", loose)

    boards.delete(first)  # cascades to its memberships, not to the images
    assert links.get_board_for_image(control) is None and image_store.exists(control)


def test_board_images_of_other_tenant(
    boards: SqlBoardRecordStorage, links: SqlBoardImageRecordStorage, image_store: SqlImageRecordStorage, tenant: str, other_tenant: str
) -> None:
    board = boards.save("Mine", "alice").board_id
    image = _image(image_store)
    links.add_image_to_board(board, image)
    with as_tenant(other_tenant):
        their_board = boards.save("Theirs", "mallory").board_id
        their_image = _image(image_store, user_id="mallory")
        assert links.get_board_for_image(image) is None
        assert links.get_image_count_for_board(board) == 0 and links.get_asset_count_for_board(board) == 0
        assert links.get_all_board_image_names_for_board(board, None, None) == []
        assert image not in links.get_all_board_image_names_for_board("none", None, None)
        assert links.remove_image_from_board(image, board) == 0
        with pytest.raises(ImageRecordNotFoundException):  # cannot pull my image into their board
            links.add_image_to_board(their_board, image)
        with pytest.raises(BoardRecordNotFoundException):  # nor push theirs into mine
            links.add_image_to_board(board, their_image)
    assert links.get_board_for_image(image) == board and links.get_image_count_for_board(board) == 1
