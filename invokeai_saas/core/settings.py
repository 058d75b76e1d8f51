"""Process settings (env prefix PINGVAS_). Defaults give the embedded studio: SQLite + local files."""

from ipaddress import ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import limits
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def parse_storage_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix"); the prefix has no leading or trailing slash."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"Not an s3://bucket[/prefix] storage URL: {url!r}")
    return parsed.netloc, parsed.path.strip("/")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINGVAS_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Root for the SQLite file, outputs and models.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite file under data_dir.")
    db_schema: str | None = Field(default=None, description="Postgres schema (schema-per-environment).")
    db_app_role: str | None = Field(
        default="pingvas_app", description="Postgres role the app SET ROLEs to, so row-level security applies."
    )
    host: str = "127.0.0.1"
    port: int = 9090
    default_plan: str = "starter"
    brand: str = Field(
        default="pingvas",
        description="The product's brand: a folder under frontend-overrides/brands/ (name, colours, logo, favicon).",
    )
    invitation_ttl_hours: int = 72
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by every pod (`redis://host:port/db` or `redis+sentinel://…`); default: none, in-process.",
    )
    login_rate_limit: str = Field(
        default="10/minute", description="Failed sign-ins allowed per account and per client address (`limits` notation)."
    )
    signup_rate_limit: str = Field(
        default="20/hour", description="Sign-ups and invitation accepts allowed per client address (`limits` notation)."
    )
    trusted_proxies: str = Field(
        default="", description="Comma-separated IPs/CIDRs of proxies whose X-Forwarded-For names the client."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        gt=0,
        description="Largest request body a route reads (JSON and every other body but an upload's); larger is a 413. "
        "Sign-in and sign-up routes take at most 8 KiB.",
    )

    storage_url: str | None = Field(
        default=None,
        description="`s3://bucket/prefix` for images, thumbnails, videos and other media (endpoint, region and "
        "credentials from the AWS_* environment as boto3 reads it); default: files under data_dir.",
    )
    media_base_url: str | None = Field(
        default=None, description="A CDN in front of the bucket: media routes redirect to <this>/<object key>."
    )
    media_url_ttl_seconds: int = Field(default=300, gt=0, description="Lifetime of a presigned media URL.")
    scratch_dir: Path | None = Field(
        default=None,
        description="Pod-local folder for a session's intermediate tensors and conditioning; default: under data_dir/outputs.",
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a worker's claim on a queue item lasts without a heartbeat."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Claims of one queue item before a worker loss fails it instead of retrying."
    )
    warm_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Longest a queue item waits for a worker that already holds its models (0: no warm-model dispatch).",
    )
    queue_poll_seconds: float = Field(
        default=5.0, gt=0, description="Fallback poll of an idle worker (signals wake it at once)."
    )

    trial_credits: int = Field(default=300, ge=0, description="Credits a new workspace's trial starts with (0: no trial).")
    trial_days: int = Field(default=14, gt=0, description="Days until a trial's unused credits lapse.")

    lemonsqueezy_api_url: str = Field(default="https://api.lemonsqueezy.com/v1", description="Lemon Squeezy's API.")
    lemonsqueezy_api_key: str | None = Field(default=None, description="Lemon Squeezy API key (checkout, portal, plan changes).")
    lemonsqueezy_store_id: str | None = Field(default=None, description="The Lemon Squeezy store selling the plans.")
    lemonsqueezy_webhook_secret: str | None = Field(
        default=None, description="Signing secret of the store's webhook; without it every delivery is refused."
    )
    lemonsqueezy_variants: str = Field(
        default="{}", description='Variant id -> "plan:month" or "plan:year", as JSON: {"101": "pro:month"}.'
    )
    lemonsqueezy_test_mode: bool = Field(
        default=False,
        description="Apply the store's test-mode deliveries and ignore live ones; off: the reverse (test purchases never grant credits).",
    )
    checkout_signing_secret: str | None = Field(
        default=None,
        description="Signs the reference a checkout puts in its custom data (binds a subscription to its workspace); "
        "unset: derived from the webhook signing secret under its own label, the same on every pod.",
    )
    billing_grace_days: int = Field(default=7, ge=0, description="Days a workspace keeps generating after a failed payment.")

    gemini_api_key: str | None = Field(default=None, description="Gemini API key for nano-banana image requests.")
    gemini_base_url: str | None = Field(default=None, description="Gemini API base URL; default: Google's.")

    smtp_url: str | None = Field(
        default=None,
        description="`smtp://user:pass@host:port` (STARTTLS where offered) or `smtps://…` (implicit TLS); "
        "unset: messages are written as .eml files to `<data_dir>/mail-outbox/` and the log says where.",
    )
    mail_from: str = Field(default="Pingvas Studio <no-reply@localhost>", description="The From of every message.")
    public_url: str = Field(
        default="http://127.0.0.1:9090", description="The studio's address as customers open it: the base of links in e-mails."
    )
    email_verification: Literal["required", "off"] = Field(
        default="required",
        description="`required`: a new owner verifies their address before the trial's credits, generating or uploading; "
        "`off`: the trial is granted at sign-up (self-hosted studios).",
    )
    mail_rate_limit: str = Field(
        default="5/hour", description="Password-reset requests per address and verification resends per user (`limits` notation)."
    )
    invitation_rate_limit: str = Field(
        default="50/day", description="Invitations a workspace may send (each is an e-mail), per workspace (`limits` notation)."
    )

    admin_allowed_cidrs: str = Field(
        default="127.0.0.1/32,::1/128",
        description="Comma-separated networks the operator API (/api/v1/admin/…) answers; from elsewhere it is a 404.",
    )

    log_format: Literal["plain", "json"] = Field(
        default="plain", description="`json`: one JSON object per log line, with tenant, user, request and queue item ids."
    )

    @field_validator("lemonsqueezy_variants")
    @classmethod
    def _variants(cls, value: str) -> str:
        from billing.lemonsqueezy import Variants
        from billing.plans import PLANS

        try:
            Variants.parse(value, set(PLANS))
        except ValueError as e:
            raise ValueError(f"PINGVAS_LEMONSQUEEZY_VARIANTS: {e}") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc:
            raise ValueError(f"PINGVAS_PUBLIC_URL={value!r} is not an http(s):// address")
        return value.rstrip("/")

    @field_validator("storage_url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value:
            try:
                parse_storage_url(value)
            except ValueError as e:
                raise ValueError(f"PINGVAS_STORAGE_URL: {e}") from None
        return value or None

    @field_validator("login_rate_limit", "signup_rate_limit", "mail_rate_limit", "invitation_rate_limit")
    @classmethod
    def _one_rate_limit(cls, value: str, info: ValidationInfo) -> str:
        try:
            parsed = limits.parse_many(value)
        except ValueError:
            parsed = []
        if len(parsed) != 1:
            name = f"PINGVAS_{(info.field_name or '').upper()}"
            raise ValueError(f"{name}={value!r} is not one rate limit; write it like '10/minute' or '20/hour'")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _ip_networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"PINGVAS_TRUSTED_PROXIES: {part!r} is not an IP address or CIDR") from None
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'databases' / 'pingvas.db').resolve()}"

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith("postgresql")
