"""`/healthz` (the process is alive), `/readyz` (what it depends on is reachable), `/metrics`
(Prometheus): the same three routes on every role, unauthenticated, JSON except the metrics."""

import time
from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from invokeai_saas.dispatch.claims import POD_ID

Check = Callable[[], None]  # raises when the dependency is not reachable


def health_router(role: str, checks: dict[str, Check]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "role": role, "pod": POD_ID}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results = {name: await run_in_threadpool(_run, check) for name, check in checks.items()}
        ready = all(r["ok"] for r in results.values())
        body = {"status": "ready" if ready else "not_ready", "role": role, "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _run(check: Check) -> dict[str, object]:
    started = time.perf_counter()
    try:
        check()
    except Exception as e:  # any failure means "not ready", with the reason
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}
