"""`pingvas`: serve the studio, run an API pod or a worker, migrate, and operator commands."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from invokeai_saas.core.settings import Settings

app = typer.Typer(help="Pingvas Studio: multi-tenant InvokeAI.", no_args_is_help=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data folder (default: $PINGVAS_DATA_DIR or ./data)")]


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    settings = Settings()
    updates = {k: v for k, v in {"data_dir": data_dir, **overrides}.items() if v is not None}
    return settings.model_copy(update=updates)


def _run(settings: Settings, run_processor: bool) -> None:
    import uvicorn
    from invokeai.app.util.startup_utils import apply_monkeypatches, register_mime_types

    from invokeai_saas.wiring.app import create_app

    apply_monkeypatches()
    register_mime_types()
    fastapi_app, loop = create_app(settings, run_processor=run_processor)
    config = uvicorn.Config(app=fastapi_app, host=settings.host, port=settings.port, loop="asyncio", log_level="warning")
    server = uvicorn.Server(config)
    typer.echo(f"Pingvas Studio on http://{settings.host}:{settings.port}")
    try:
        loop.run_until_complete(server.serve())
    finally:
        from invokeai.app.api.dependencies import ApiDependencies

        if getattr(ApiDependencies, "invoker", None) is not None:
            ApiDependencies.shutdown()


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on")] = None,
    data_dir: DataDir = None,
) -> None:
    """API + web UI + worker in one process (the embedded default: SQLite + local files)."""
    _run(_settings(data_dir, host=host, port=port), run_processor=True)


@app.command()
def api(
    host: Annotated[Optional[str], typer.Option()] = None,
    port: Annotated[Optional[int], typer.Option()] = None,
    data_dir: DataDir = None,
) -> None:
    """API + web UI only; queue items are run by `pingvas worker` pods."""
    _run(_settings(data_dir, host=host, port=port), run_processor=False)


@app.command()
def worker(
    host: Annotated[Optional[str], typer.Option(help="Interface for health/metrics")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port for health/metrics")] = None,
    data_dir: DataDir = None,
) -> None:
    """Session processor only, with /healthz, /readyz and /metrics on its port (no UI, no API)."""
    import uvicorn

    from invokeai_saas.wiring.worker import create_worker_app

    settings = _settings(data_dir, host=host, port=port)
    worker_app, loop = create_worker_app(settings)
    config = uvicorn.Config(app=worker_app, host=settings.host, port=settings.port, loop="asyncio", log_level="warning")
    typer.echo(f"Pingvas worker; health on http://{settings.host}:{settings.port}/healthz")
    loop.run_until_complete(uvicorn.Server(config).serve())


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date (Alembic)."""
    from invokeai_saas.wiring.app import open_database
    from invokeai_saas.db.migrate import current_revision, upgrade
    from invokeai_saas.queue.claims import sync_dispatch_plans

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings)
    try:
        before = current_revision(db)
        upgrade(db)
        sync_dispatch_plans(db)
        after = current_revision(db)
    finally:
        db.dispose()
    if before == after:
        typer.echo(f"Database is up to date (revision {after}).")
    else:
        typer.echo(f"Database upgraded from revision {before or '(empty)'} to {after}.")


@app.command("create-operator")
def create_operator(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    data_dir: DataDir = None,
) -> None:
    """Create a platform operator (an InvokeAI admin who belongs to no tenant)."""
    from invokeai_saas.wiring.app import open_database
    from invokeai_saas.db.migrate import upgrade_if_empty
    from invokeai_saas.accounts.tenancy import TenancyService
    from tenant_middleware.errors import ServiceError

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings)
    upgrade_if_empty(db)
    try:
        user_id = TenancyService(db).create_operator(email, password)
    except ServiceError as e:
        typer.echo(f"error ({e.code.value}): {e.detail}", err=True)
        raise typer.Exit(1) from e
    typer.echo(f"Created operator {email} ({user_id}).")


@app.command("tenant-status")
def tenant_status(
    tenant_id: str,
    status: Annotated[str, typer.Argument(help="active or suspended")],
    data_dir: DataDir = None,
) -> None:
    """Suspend or reactivate a tenant."""
    from invokeai_saas.wiring.app import open_database
    from invokeai_saas.accounts.tenancy import TenancyService

    summary = TenancyService(open_database(_settings(data_dir))).update_tenant(tenant_id, status=status)
    typer.echo(f"{summary.name} ({summary.id}) is now {summary.status}.")


@app.command("recount-storage")
def recount_storage(data_dir: DataDir = None) -> None:
    """Repairs each workspace's stored-bytes counter: measures media left without a size (a pod died
    between writing the files and recording them) and sets every counter to the sum of its media."""
    from invokeai.app.services.config.config_default import get_config

    from invokeai_saas.wiring.app import configure_invokeai, open_database
    from invokeai_saas.media.images import files_size
    from invokeai_saas.wiring.services import media_stores
    from invokeai_saas.money.storage_usage import recount

    settings = _settings(data_dir)
    configure_invokeai(settings)
    config = get_config()
    db = open_database(settings)
    stores = media_stores(settings, config, settings.scratch_dir or config.outputs_path, db)

    def image_size(name: str, folder: str) -> int:
        return files_size(lambda thumb: stores.images.get_path(name, thumb, image_subfolder=folder))

    def video_size(name: str, folder: str) -> int:
        return files_size(lambda thumb: stores.videos.get_path(name, thumb, video_subfolder=folder))

    drifted = recount(db, image_size, video_size)
    for tenant_id, (before, after) in drifted.items():
        typer.echo(f"{tenant_id}: {before} -> {after} bytes")
    typer.echo(f"Recounted storage: {len(drifted)} workspace(s) corrected.")


if __name__ == "__main__":
    app()
