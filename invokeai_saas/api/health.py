"""`/healthz` (the process is alive), `/readyz` (what it depends on is reachable), `/metrics`
(Prometheus): the same three routes on every role, unauthenticated, JSON except the metrics.

`/readyz` and `/metrics` are for the cluster, which reaches a pod directly: through the ingress (a
trusted proxy naming a client) they are a 404, so queue depths and internal host names in a failed
check never reach the internet.

On a pod that runs sessions, a processor thread that ended (it can no longer run the items it would
claim) makes `/healthz` fail as well, so the liveness probe restarts the pod."""

import time
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from invokeai_saas.core.running_claim import POD_ID
from invokeai_saas.accounts.rate_limits import Network, via_trusted_proxy

Check = Callable[[], None]  # raises when the dependency is not reachable


def health_router(role: str, checks: dict[str, Check], trusted_proxies: Sequence[Network] = ()) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def inside_the_cluster(request: Request) -> None:
        if via_trusted_proxy(request.scope, trusted_proxies):
            raise HTTPException(status_code=404, detail="Not Found")

    Inside = Depends(inside_the_cluster)

    @router.get("/healthz")
    def healthz() -> JSONResponse:
        body = {"status": "ok", "role": role, "pod": POD_ID}
        dead = _dead_processor_threads()
        if dead:
            return JSONResponse(body | {"status": "unhealthy", "dead_workers": dead}, status_code=503)
        return JSONResponse(body)

    @router.get("/readyz", dependencies=[Inside])
    async def readyz() -> JSONResponse:
        results = {name: await run_in_threadpool(_run, check) for name, check in (checks | {"processor": _processor_alive}).items()}
        ready = all(r["ok"] for r in results.values())
        body = {"status": "ready" if ready else "not_ready", "role": role, "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", dependencies=[Inside])
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


def _dead_processor_threads() -> dict[str, str]:
    """The session processor's threads that ended (none on a pod that runs no sessions)."""
    from invokeai.app.api.dependencies import ApiDependencies

    from invokeai_saas.queue.session_processors import TenantAwareSessionProcessor

    invoker = getattr(ApiDependencies, "invoker", None)
    processor = getattr(getattr(invoker, "services", None), "session_processor", None)
    return processor.dead_workers() if isinstance(processor, TenantAwareSessionProcessor) else {}


def _processor_alive() -> None:
    dead = _dead_processor_threads()
    if dead:
        raise RuntimeError(f"session processor threads ended: {', '.join(sorted(dead))}")
