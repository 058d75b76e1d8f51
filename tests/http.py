"""httpx calls with a timeout fit for these busy 2-core machines (httpx's default is 5 s).

Tests call `http.get(...)` etc. instead of `httpx.get(...)`; `TIMEOUT` applies unless a call sets its own.
"""

from typing import Any

import httpx

TIMEOUT = httpx.Timeout(60.0, connect=20.0)


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    return httpx.request(method, url, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    return request("PUT", url, **kwargs)


def patch(url: str, **kwargs: Any) -> httpx.Response:
    return request("PATCH", url, **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return request("DELETE", url, **kwargs)
