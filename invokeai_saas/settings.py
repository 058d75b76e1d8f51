"""Process settings (env prefix PINGVAS_). Defaults give the embedded studio: SQLite + local files."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    invitation_ttl_hours: int = 72

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'databases' / 'pingvas.db').resolve()}"

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith("postgresql")
