"""A real Pingvas Studio server (`pingvas serve` in a subprocess) for HTTP and Socket.IO tests."""

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from invokeai_saas.db import Database
from invokeai_saas.accounts.tenancy import TenancyService
from scripts.local_servers import ROOT, free_port, start_pod, wait_healthy
from tests import http

__all__ = ["ROOT", "Account", "Studio", "free_port"]
BOOT_TIMEOUT_S = 120
# Tests not about e-mail sign up and generate at once: their pods grant the trial at sign-up unless their env says
# otherwise (tests/test_email_accounts.py and tests/test_ui_email.py turn verification on).
TRIAL_AT_SIGNUP = {"PINGVAS_EMAIL_VERIFICATION": "off"}


@dataclass
class Account:
    token: str
    user_id: str
    tenant_id: str | None
    email: str
    password: str = "Passw0rd!x"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Studio:
    backend: str
    data_dir: Path
    env: dict[str, str]
    db: Database
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    command: str = "serve"
    log_name: str = "server.log"  # pods sharing a data folder each need their own

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        self.log_path = self.data_dir / self.log_name
        self.process = start_pod(self.command, self.port, self.data_dir, TRIAL_AT_SIGNUP | self.env, self.log_path)
        if wait:
            self.wait_started()

    def wait_started(self) -> None:
        assert self.process is not None
        wait_healthy(self.url, self.process, BOOT_TIMEOUT_S, self.log_tail, name="studio")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.db.dispose()

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def client(self, account: Account | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=account.headers if account else {}, timeout=60)

    def signup(self, email: str, workspace: str = "Acme") -> Account:
        password = "Passw0rd!x"
        r = http.post(f"{self.url}/api/v1/signup", json={"email": email, "password": password, "workspace_name": workspace})
        assert r.status_code == 201, r.text
        body = r.json()
        return Account(body["token"], body["user_id"], body["tenant_id"], email, password)

    def join(self, inviter: Account, email: str, role: str = "member", password: str = "Matey!pass1") -> Account:
        """A new member of `inviter`'s workspace, invited and accepted through the API."""
        with self.client(inviter) as c:
            r = c.post("/api/v1/tenant/invitations", json={"email": email, "role": role})
            assert r.status_code == 201, r.text
        r = http.post(f"{self.url}/api/v1/invitations/accept", json={"token": r.json()["token"], "password": password})
        assert r.status_code == 201, r.text
        body = r.json()
        return Account(body["token"], body["user_id"], body["tenant_id"], email, password)

    def login(self, email: str, password: str) -> Account:
        r = http.post(f"{self.url}/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        body = r.json()
        return Account(body["token"], body["user"]["user_id"], None, email, password)

    def operator(self, email: str = "ops@pingvas.example") -> Account:
        password = "Operat0r!pass"
        TenancyService(self.db).create_operator(email, password)
        return self.login(email, password)

    def wait_for(self, predicate: Any, timeout: float = 120, interval: float = 0.25) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s\n{self.log_tail()}")
