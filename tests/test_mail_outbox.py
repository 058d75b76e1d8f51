"""The mail outbox on both databases, against a real SMTP server (aiosmtpd): a message is sent once
its transaction commits, never for one that rolls back, once per cause, retried with backoff when the
server refuses, once across two pods draining together, and once after a pod is killed (`kill -9`)
between the commit and the send, or between claiming and sending."""

import dataclasses
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from invokeai_saas.db import Database, utcnow
from invokeai_saas.db.tables.mail import mail_outbox
from invokeai_saas.mail.outbox import Outbox, enqueue
from invokeai_saas.mail.templates import Templates
from invokeai_saas.mail.transport import FolderTransport, SmtpTransport, transport_for
from invokeai_saas.wiring.branding import load_brand
from tenant_middleware.context import system_scope
from tests.smtp_server import SmtpServer, running_smtp_server

ROOT = Path(__file__).resolve().parents[1]
BRAND = load_brand("pingvas")
SENDER = "Pingvas Studio <no-reply@pingvas.test>"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def outbox(db: Database, smtp: SmtpServer, **kwargs: object) -> Outbox:
    templates = Templates(dataclasses.asdict(BRAND), BRAND.folder)  # as wiring/app.py builds them
    return Outbox(db, SmtpTransport(smtp.url, timeout_s=30), templates, SENDER, **kwargs)  # type: ignore[arg-type]


def address() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def write(db: Database, to: str, key: str | None = None, title: str = "Hello") -> None:
    with system_scope(), db.begin() as conn:
        enqueue(conn, key or f"test:{uuid.uuid4()}", to, "notice", {"title": title, "text": "Body text", "link": None})


def row_of(db: Database, to: str) -> sa.Row:
    with system_scope(), db.begin() as conn:
        return conn.execute(sa.select(mail_outbox).where(mail_outbox.c.recipient == to)).one()


def drain_all(box: Outbox) -> int:
    sent = 0
    while (n := box.drain()) > 0:
        sent += n
    return sent


def test_a_committed_message_is_sent_once_with_the_brand(database: Database, smtp: SmtpServer) -> None:
    to = address()
    write(database, to, title="Your invitation")
    box = outbox(database, smtp)
    drain_all(box)
    drain_all(box)
    (message,) = smtp.inbox.to(to)
    assert message["Subject"] == "Pingvas Studio: Your invitation"
    assert message["From"] == SENDER
    assert "Body text" in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert BRAND.accent in html and BRAND.support_email in html
    row = row_of(database, to)
    assert row.status == "sent" and row.sent_at is not None and row.claimed_by is None
    assert message["Message-ID"] == box.message_id(row)


def test_html_escapes_what_a_user_typed(database: Database, smtp: SmtpServer) -> None:
    to = address()
    write(database, to, title="<script>alert(1)</script>")
    drain_all(outbox(database, smtp))
    (message,) = smtp.inbox.to(to)
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_rolled_back_transaction_sends_nothing(database: Database, smtp: SmtpServer) -> None:
    to = address()
    with pytest.raises(RuntimeError), system_scope(), database.begin() as conn:
        enqueue(conn, f"test:{uuid.uuid4()}", to, "notice", {"title": "t", "text": "x", "link": None})
        raise RuntimeError("the cause failed")
    drain_all(outbox(database, smtp))
    assert smtp.inbox.to(to) == []
    with system_scope(), database.begin() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(mail_outbox).where(mail_outbox.c.recipient == to)) == 0


def test_one_message_per_cause(database: Database, smtp: SmtpServer) -> None:
    to, key = address(), f"test:{uuid.uuid4()}"
    write(database, to, key)
    with system_scope(), database.begin() as conn:
        assert enqueue(conn, key, to, "notice", {"title": "again", "text": "x", "link": None}) is False
    drain_all(outbox(database, smtp))
    write(database, to, key)  # the same cause after the send: still one message
    drain_all(outbox(database, smtp))
    assert len(smtp.inbox.to(to)) == 1


def test_a_refused_message_is_retried_with_backoff_then_sent_once(database: Database, smtp: SmtpServer) -> None:
    drain_all(outbox(database, smtp))  # nothing of other tests is left due
    to = address()
    write(database, to)
    box = outbox(database, smtp, backoff=timedelta(seconds=3600))
    smtp.inbox.refuse = 1
    assert box.drain() == 0
    row = row_of(database, to)
    assert (row.status, row.attempts) == ("pending", 1) and "451" in row.last_error
    assert row.next_attempt_at > row.created_at + timedelta(seconds=3000)  # not due again for the backoff
    assert box.drain() == 0 and smtp.inbox.to(to) == []
    with system_scope(), database.begin() as conn:  # the backoff passes
        conn.execute(sa.update(mail_outbox).where(mail_outbox.c.id == row.id).values(next_attempt_at=row.created_at))
    drain_all(box)
    assert len(smtp.inbox.to(to)) == 1 and row_of(database, to).status == "sent"


def test_a_message_that_keeps_failing_ends_failed_with_its_reason(database: Database, smtp: SmtpServer) -> None:
    drain_all(outbox(database, smtp))
    to = address()
    write(database, to)
    box = outbox(database, smtp, backoff=timedelta(0), max_attempts=3)
    smtp.inbox.refuse = 3
    for _ in range(3):
        box.drain()
    row = row_of(database, to)
    assert (row.status, row.attempts) == ("failed", 3) and "451" in row.last_error
    assert box.drain() == 0 and smtp.inbox.to(to) == []


def test_a_template_error_fails_its_message_alone(database: Database, smtp: SmtpServer) -> None:
    bad, good = address(), address()
    with system_scope(), database.begin() as conn:
        enqueue(conn, f"test:{uuid.uuid4()}", bad, "notice", {"text": "no title"})  # StrictUndefined: title missing
    write(database, good)
    box = outbox(database, smtp, max_attempts=1)
    drain_all(box)
    assert row_of(database, bad).status == "failed" and "title" in row_of(database, bad).last_error
    assert len(smtp.inbox.to(good)) == 1


def test_two_pods_draining_together_send_each_message_once(database: Database, smtp: SmtpServer) -> None:
    recipients = [address() for _ in range(40)]
    for to in recipients:
        write(database, to)
    pods = [outbox(database, smtp), outbox(database, smtp)]
    pods[1]._me += "-other"
    threads = [threading.Thread(target=drain_all, args=(pod,)) for pod in pods]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [len(smtp.inbox.to(to)) for to in recipients] == [1] * len(recipients)


CHILD = """
import os, signal, sys, uuid
sys.path.insert(0, {root!r})
from datetime import timedelta
from invokeai_saas.db import Database, utcnow
from invokeai_saas.mail.outbox import Outbox, enqueue
from tenant_middleware.context import system_scope
db = Database({url!r}, schema={schema!r}, app_role={role!r})
with system_scope(), db.begin() as conn:
    enqueue(conn, "test:" + uuid.uuid4().hex, {to!r}, "notice", {{"title": "t", "text": "x", "link": None}})
if {claim!r}:
    Outbox(db, None, None, "x@y", lease=timedelta(seconds=5))._claim(1000)  # claimed, never sent
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("claim", [False, True], ids=["after-commit", "after-claim"])
def test_a_pod_killed_before_sending_loses_nothing_and_sends_once(database: Database, smtp: SmtpServer, claim: bool) -> None:
    to = address()
    url = database.url.render_as_string(hide_password=False)
    code = CHILD.format(root=str(ROOT), url=url, schema=database.schema, role=database.app_role, to=to, claim=claim)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    row = row_of(database, to)
    assert row.status == "pending" and (row.claimed_by is not None) == claim
    box = outbox(database, smtp)
    if claim:  # nobody sends it while the dead pod's lease (5 s) runs; then one pod does
        if row.lease_until > utcnow() + timedelta(seconds=1):
            box.drain()
            assert smtp.inbox.to(to) == []
        time.sleep(max(0.0, (row.lease_until - utcnow()).total_seconds()) + 0.2)
    drain_all(box)
    drain_all(box)
    assert len(smtp.inbox.to(to)) == 1 and row_of(database, to).status == "sent"


def test_with_no_smtp_url_messages_are_written_to_a_folder(database: Database, tmp_path: Path) -> None:
    folder = tmp_path / "mail-outbox"
    assert isinstance(transport_for(None, folder), FolderTransport)
    to = address()
    write(database, to, title="Folder")
    templates = Templates(dataclasses.asdict(BRAND))
    box = Outbox(database, FolderTransport(folder), templates, SENDER)
    drain_all(box)
    files = list(folder.glob("*.eml"))
    found = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    mine = [m for m in found if m["To"] == to]
    assert len(mine) == 1 and mine[0]["Subject"] == "Pingvas Studio: Folder"
    assert not list(folder.glob("*.tmp"))


def test_smtp_urls() -> None:
    plain = SmtpTransport("smtp://user%40x:p%3Ass@mail.example:2525")
    assert (plain.host, plain.port, plain.username, plain.password, plain.implicit_tls) == ("mail.example", 2525, "user@x", "p:ss", False)
    tls = SmtpTransport("smtps://mail.example")
    assert (tls.port, tls.implicit_tls, tls.username) == (465, True, None)
    assert SmtpTransport("smtp://mail.example").port == 587
    for bad in ("http://mail.example", "smtp://", "mail.example:25"):
        with pytest.raises(ValueError):
            SmtpTransport(bad)
