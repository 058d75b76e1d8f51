"""Where a rendered message goes: an SMTP server (`PINGVAS_SMTP_URL`), or, with none set (the
embedded default), a folder of `.eml` files under the data directory."""

import asyncio
import os
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import aiosmtplib


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """`smtp://user:pass@host:port` (STARTTLS where the server offers it) or `smtps://…` (implicit TLS)."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise ValueError(f"Not an smtp:// or smtps:// URL: {parsed.scheme}://{parsed.hostname}")
        self.implicit_tls = parsed.scheme == "smtps"
        self.host = parsed.hostname
        self.port = parsed.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.timeout_s = timeout_s

    def send(self, message: EmailMessage) -> None:
        asyncio.run(
            aiosmtplib.send(
                message, hostname=self.host, port=self.port, username=self.username, password=self.password,
                use_tls=self.implicit_tls, start_tls=None if not self.implicit_tls else False, timeout=self.timeout_s,
            )
        )


class FolderTransport:
    """Each message as `<Message-ID>.eml` in `folder`, written whole or not at all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("/", "_") + ".eml"
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(message))
        os.replace(tmp, self.folder / name)


def transport_for(smtp_url: str | None, folder: Path) -> Transport:
    return SmtpTransport(smtp_url) if smtp_url else FolderTransport(folder)
