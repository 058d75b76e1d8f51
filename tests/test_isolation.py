"""Tenant isolation: tenant B walks every route of the app's OpenAPI, aimed at tenant A's objects.

A route must answer B with a 404 (or 422 for a body it can't parse) when it names A's object, must
never put any of A's identifiers or names in a response that B did not send itself, must never
500, and after the walk every one of A's objects must be exactly as it was.
"""

import io
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests import http
import pytest
import sqlalchemy as sa
from PIL import Image

from invokeai_saas.db import utcnow
from invokeai_saas.db.tables.media import videos
from tenant_middleware.context import as_tenant

from tests.conftest import unique_email
from tests.studio import Account, Studio

# Routes B must not call during the walk because they end B's own session (not isolation-relevant).
SKIP = {("post", "/api/v1/auth/logout"), ("patch", "/api/v1/auth/me")}
# A route naming A's object must answer B exactly as it answers for an object that does not exist,
# and that answer must be one of these (403 only where the route is for platform operators alone).
ALLOWED_WHEN_NAMING_A = {404, 422, 403}
NOT_AN_ERROR = {501}
# Routes that answer an unknown id with an empty 200 (InvokeAI's batch status: all counts 0).
ANSWERS_ABSENT_WITH_EMPTY_200 = {"GET /api/v1/queue/{queue_id}/b/{batch_id}/status"}  # InvokeAI's deliberate "Not implemented" route


@dataclass
class TenantObjects:
    account: Account
    image: str = ""
    board: str = ""
    workflow: str = ""
    preset: str = ""
    prompt: str = ""
    item_id: int = 0
    batch: str = ""
    session: str = ""
    api_key: str = ""
    client_key: str = ""
    video: str = ""
    names: dict[str, str] = field(default_factory=dict)

    def ids_by_param(self) -> dict[str, Any]:
        return {
            "image_name": self.image, "board_id": self.board, "workflow_id": self.workflow,
            "style_preset_id": self.preset, "system_prompt_id": self.prompt, "item_id": self.item_id,
            "batch_id": self.batch, "session_id": self.session, "api_key_id": self.api_key,
            "user_id": self.account.user_id, "tenant_id": self.account.tenant_id, "key": self.client_key,
            "destination": self.names["destination"], "queue_id": "default", "video_name": self.video,
        }

    def secrets(self) -> set[str]:
        return {self.image, self.video, self.board, self.workflow, self.preset, self.prompt, self.batch, self.session,
                self.api_key, self.account.user_id, self.account.tenant_id or "", self.account.email, *self.names.values()}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(buf, format="PNG")
    return buf.getvalue()


def _workflow(name: str) -> dict[str, Any]:
    return {"name": name, "author": "alice", "description": "secret", "version": "1.0.0", "contact": "", "tags": "",
            "notes": "", "exposedFields": [], "meta": {"version": "3.0.0", "category": "user"}, "nodes": [], "edges": [],
            "form": None}


def _weightless_batch(destination: str) -> dict[str, Any]:
    graph = {"id": str(uuid.uuid4()), "nodes": {"a": {"id": "a", "type": "add", "a": 1, "b": 2, "is_intermediate": True, "use_cache": False}}, "edges": []}
    return {"prepend": False, "batch": {"graph": graph, "runs": 1, "destination": destination, "origin": "isolation-test"}}


def seed_tenant_a(studio: Studio) -> TenantObjects:
    tag = uuid.uuid4().hex[:8]
    account = studio.signup(unique_email(f"alice{tag}"), f"Alice Secret Workspace {tag}")
    a = TenantObjects(account, names={
        "board": f"Alice Secret Board {tag}", "workflow": f"Alice Secret Workflow {tag}", "preset": f"Alice Secret Preset {tag}",
        "prompt": f"Alice Secret Prompt {tag}", "client_value": f"alice-client-state-{tag}", "destination": f"alice-dest-{tag}",
        "workspace": f"Alice Secret Workspace {tag}",
    })
    with studio.client(account) as c:
        r = c.post("/api/v1/images/upload", params={"image_category": "user", "is_intermediate": False},
                   files={"file": ("a.png", _png(), "image/png")})
        assert r.status_code == 201, r.text
        a.image = r.json()["image_name"]
        r = c.post("/api/v1/boards/", params={"board_name": a.names["board"]})
        assert r.status_code == 201, r.text
        a.board = r.json()["board_id"]
        assert c.post("/api/v1/board_images/", json={"board_id": a.board, "image_name": a.image}).status_code == 201
        assert c.patch(f"/api/v1/boards/{a.board}", json={"board_visibility": "shared"}).status_code == 201
        assert c.patch(f"/api/v1/images/i/{a.image}", json={"starred": True}).status_code == 200
        r = c.post("/api/v1/workflows/", json={"workflow": _workflow(a.names["workflow"])})
        assert r.status_code == 200, r.text
        a.workflow = r.json()["workflow_id"]
        preset = {"name": a.names["preset"], "positive_prompt": "p", "negative_prompt": "n", "type": "user", "is_public": True}
        r = c.post("/api/v1/style_presets/", data={"data": json.dumps(preset)})
        assert r.status_code == 200, r.text
        a.preset = r.json()["id"]
        r = c.post("/api/v1/system_prompts/", json={"name": a.names["prompt"], "content": "secret prompt"})
        assert r.status_code == 200, r.text
        a.prompt = r.json()["id"]
        r = c.post("/api/v1/queue/default/enqueue_batch", json=_weightless_batch(a.names["destination"]))
        assert r.status_code in (200, 201), r.text
        a.item_id = r.json()["item_ids"][0]
        a.batch = r.json()["batch"]["batch_id"]
        a.session = c.get(f"/api/v1/queue/default/i/{a.item_id}").json()["session_id"]
        a.client_key = f"alice-key-{tag}"
        assert c.post("/api/v1/client_state/default/set_by_key", params={"key": a.client_key}, json=a.names["client_value"]).status_code == 200
        r = c.post("/api/v1/tenant/api-keys", json={"name": f"alice-ci-{tag}"})
        a.api_key = r.json()["api_key_id"]
        a.names["api_key_secret"] = r.json()["secret"]
    a.video = _insert_video_row(studio, account)
    return a


def _insert_video_row(studio: Studio, account: Account) -> str:
    """A's video: uploads need a real MP4, so the record is written as the video service would."""
    name = f"{uuid.uuid4()}.mp4"
    now = utcnow()
    with as_tenant(account.tenant_id), studio.db.begin() as conn:
        conn.execute(sa.insert(videos).values(
            video_name=name, video_origin="external", video_category="user", width=64, height=64, duration=1.0, fps=8.0,
            user_id=account.user_id, tenant_id=account.tenant_id, created_at=now, updated_at=now,
        ))
    with studio.client(account) as c:
        assert c.get(f"/api/v1/videos/i/{name}").status_code == 200
    return name


def snapshot(studio: Studio, a: TenantObjects) -> dict[str, Any]:
    """Everything of A's that B could have changed, read as A."""
    with studio.client(a.account) as c:
        image = c.get(f"/api/v1/images/i/{a.image}").json()
        return {
            "video": c.get(f"/api/v1/videos/i/{a.video}").status_code,
            "image": {k: image[k] for k in ("image_name", "starred", "board_id", "image_category", "is_intermediate")},
            "board": {k: v for k, v in c.get(f"/api/v1/boards/{a.board}").json().items() if k in ("board_name", "board_visibility", "archived")},
            "workflow": c.get(f"/api/v1/workflows/i/{a.workflow}").json()["workflow"]["name"],
            "preset": c.get(f"/api/v1/style_presets/i/{a.preset}").json()["name"],
            "prompt": c.get(f"/api/v1/system_prompts/i/{a.prompt}").status_code,
            "item": c.get(f"/api/v1/queue/default/i/{a.item_id}").json()["status"] != "canceled",
            "client": c.get("/api/v1/client_state/default/get_by_key", params={"key": a.client_key}).json(),
            "keys": [(k["api_key_id"], k["revoked_at"]) for k in c.get("/api/v1/tenant/api-keys").json()],
            "members": [m["user_id"] for m in c.get("/api/v1/tenant/members").json()],
            "tenant": c.get("/api/v1/tenant").json(),
        }


class BodyMaker:
    """Builds a request body from an OpenAPI schema, aiming every id-like field at A's objects."""

    def __init__(self, spec: dict[str, Any], ids: dict[str, Any]) -> None:
        self.spec = spec
        self.ids = ids

    def make(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        if depth > 6:
            return None
        if "$ref" in schema:
            return self.make(self.spec["components"]["schemas"][schema["$ref"].split("/")[-1]], name, depth + 1)
        for combo in ("anyOf", "oneOf", "allOf"):
            if combo in schema:
                options = [s for s in schema[combo] if s.get("type") != "null"]
                return self.make(options[0], name, depth + 1) if options else None
        singular = re.sub(r"s$", "", name)
        kind = schema.get("type")
        if kind == "array":
            value = self.make(schema.get("items", {}), singular, depth + 1)
            return [value] if value is not None else []
        if kind == "object" or "properties" in schema:
            return {k: self.make(v, k, depth + 1) for k, v in schema.get("properties", {}).items()}
        if name in self.ids or singular in self.ids:
            return self.ids.get(name, self.ids.get(singular))
        if "enum" in schema:
            return schema["enum"][0]
        return {"integer": 1, "number": 1.0, "boolean": True}.get(kind or "", "x")


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if method in ("get", "post", "put", "patch", "delete") and (method, path) not in SKIP:
                ops.append((method, path, op))
    return ops


def _fake_ids(ids: dict[str, Any]) -> dict[str, Any]:
    return {k: (999_999_999 if isinstance(v, int) else (v if k == "queue_id" else str(uuid.uuid4()))) for k, v in ids.items()}


def _request_for(path: str, op: dict[str, Any], ids: dict[str, Any], bodies: BodyMaker) -> tuple[str, dict[str, Any], Any]:
    url = re.sub(r"{(\w+)}", lambda m: str(ids.get(m.group(1), "nonexistent")), path)
    params = {}
    for p in op.get("parameters", []):
        if p["in"] == "query" and (p.get("required") or p["name"] in ids):
            params[p["name"]] = bodies.make(p.get("schema", {}), p["name"])
    body = None
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = bodies.make(content["application/json"]["schema"])
    return url, params, body


@pytest.fixture(scope="module")
def walk(studio: Studio) -> dict[str, Any]:
    a = seed_tenant_a(studio)
    b = studio.signup(unique_email("bob"), "Bob Workspace")
    before = snapshot(studio, a)
    spec = http.get(f"{studio.url}/openapi.json").json()
    ids, fake = a.ids_by_param(), _fake_ids(a.ids_by_param())
    bodies, fake_bodies = BodyMaker(spec, ids), BodyMaker(spec, fake)
    results = []
    with studio.client(b) as c:

        def call(method: str, url: str, params: dict[str, Any], body: Any) -> httpx.Response:
            try:
                return c.request(method, url, params=params, json=body)
            except httpx.HTTPError as e:  # a dropped connection is an error, recorded like a 5xx
                return httpx.Response(599, text=f"{type(e).__name__}: {e}")

        for method, path, op in _operations(spec):
            url, params, body = _request_for(path, op, ids, bodies)
            r = call(method, url, params, body)
            absent = call(method, *_request_for(path, op, fake, fake_bodies))
            sent = url + json.dumps(params) + json.dumps(body)
            leaked = sorted(s for s in a.secrets() if s and s not in sent and s in r.text)
            names_a = any(str(v) in url for v in (a.image, a.video, a.board, a.workflow, a.preset, a.prompt, a.batch, a.api_key, a.account.user_id, a.account.tenant_id, a.client_key) if v) or (
                "{item_id}" in path)
            results.append({"route": f"{method.upper()} {path}", "status": r.status_code, "absent_status": absent.status_code,
                            "leaked": leaked, "names_a": names_a, "body": r.text[:300]})
    return {"results": results, "before": before, "after": snapshot(studio, a), "a": a, "b": b}


def test_the_walk_covers_the_whole_api(walk: dict[str, Any]) -> None:
    assert len(walk["results"]) > 150
    assert sum(r["names_a"] for r in walk["results"]) > 25


def test_no_route_leaks_tenant_a_to_tenant_b(walk: dict[str, Any]) -> None:
    leaks = [(r["route"], r["status"], r["leaked"]) for r in walk["results"] if r["leaked"]]
    assert not leaks, json.dumps(leaks, indent=1)


def test_routes_naming_tenant_a_objects_answer_as_if_absent(walk: dict[str, Any]) -> None:
    wrong = [
        (r["route"], r["status"], r["absent_status"], r["body"])
        for r in walk["results"]
        if r["names_a"] and (r["status"] != r["absent_status"] or r["status"] not in ALLOWED_WHEN_NAMING_A)
        and r["route"] not in ANSWERS_ABSENT_WITH_EMPTY_200
    ]
    assert not wrong, json.dumps(wrong, indent=1)
    assert sum(r["status"] == 404 for r in walk["results"] if r["names_a"]) > 20


def test_answers_for_tenant_a_objects_never_differ_from_absent_ones(walk: dict[str, Any]) -> None:
    """Also for routes that take A's ids in a body or query: same status as for made-up ids."""
    differ = [(r["route"], r["status"], r["absent_status"], r["body"]) for r in walk["results"] if r["status"] != r["absent_status"]]
    assert not differ, json.dumps(differ, indent=1)


def test_no_route_errors(walk: dict[str, Any]) -> None:
    errors = [(r["route"], r["status"], r["body"]) for r in walk["results"] if r["status"] >= 500 and r["status"] not in NOT_AN_ERROR]
    assert not errors, json.dumps(errors, indent=1)


def test_tenant_a_objects_are_untouched(walk: dict[str, Any]) -> None:
    assert walk["after"] == walk["before"]


def test_tenant_a_api_key_is_useless_for_nothing_but_a(studio: Studio, walk: dict[str, Any]) -> None:
    a: TenantObjects = walk["a"]
    headers = {"Authorization": f"Bearer {a.names['api_key_secret']}"}
    assert http.get(f"{studio.url}/api/v1/tenant", headers=headers).json()["id"] == a.account.tenant_id
