"""A local HTTP server speaking Gemini's `generateContent` (Google cannot be reached from here): it
checks the API key, answers each request with a freshly drawn PNG and counts the requests, so tests
can see how many real requests the studio made."""

import base64
import io
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

API_KEY = "test-gemini-key"


@dataclass
class GeminiStandIn:
    server: ThreadingHTTPServer
    prompts: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self) -> dict[str, str]:
        return {"PINGVAS_GEMINI_API_KEY": API_KEY, "PINGVAS_GEMINI_BASE_URL": self.base_url}

    def requests_for(self, prompt: str) -> int:
        return self.prompts.count(prompt)


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), tuple(random.randrange(256) for _ in range(3))).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _handler(stand_in: GeminiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if f"key={API_KEY}" not in self.path:
                return self._answer(403, {"error": {"code": 403, "message": "API key not valid."}})
            if ":generateContent" not in self.path:
                return self._answer(404, {"error": {"code": 404, "message": "Not found."}})
            texts = [p["text"] for c in body.get("contents", []) for p in c.get("parts", []) if "text" in p]
            stand_in.prompts.append(" ".join(texts))
            parts = [{"inlineData": {"mimeType": "image/png", "data": _png()}}]
            self._answer(200, {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture(scope="session")
def gemini() -> Iterator[GeminiStandIn]:
    stand_in = GeminiStandIn(server=None)  # type: ignore[arg-type]
    stand_in.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    threading.Thread(target=stand_in.server.serve_forever, daemon=True).start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
