"""`/readyz` and `/metrics` answer the cluster (probes, Prometheus: straight to the pod) and are a 404
through the ingress (a trusted proxy that names a client), so they never reach the internet."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from invokeai_saas.api.health import health_router
from invokeai_saas.accounts.rate_limits import parse_networks

INGRESS = "10.40.7.9"  # inside PINGVAS_TRUSTED_PROXIES below
PROMETHEUS = "10.40.200.3"  # also inside the VPC: what tells them apart is the forwarding header
FORWARDED = {"X-Forwarded-For": "203.0.113.50"}


def status(path: str, peer: str, headers: dict[str, str], trusted: str = "10.40.0.0/16") -> int:
    app = FastAPI()
    app.include_router(health_router("api", {"database": lambda: None}, parse_networks(trusted)))
    # In-process (its own event loop in a thread), whatever loop an earlier test left running here.
    with TestClient(app, client=(peer, 40000)) as client:
        return client.get(path, headers=headers).status_code


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
def test_through_the_ingress_readiness_and_metrics_are_not_found(path: str) -> None:
    assert status(path, INGRESS, FORWARDED) == 404
    assert status(path, PROMETHEUS, {}) == 200  # a scrape or a probe, straight to the pod
    assert status(path, "198.51.100.7", FORWARDED) == 200  # a header from an untrusted peer proves nothing
    assert status(path, INGRESS, FORWARDED, trusted="") == 200  # the embedded default trusts no proxy


def test_liveness_answers_everyone() -> None:
    assert status("/healthz", INGRESS, FORWARDED) == 200
