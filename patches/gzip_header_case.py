"""Socket.IO's long-polling transport answers 500 to any browser; header names are lower-cased first.

Why: python-engineio sends raw ASGI header names capitalised (`Content-Type`), which the ASGI spec
says must be lower-case. InvokeAI's `_ContentTypeAwareGZipResponder` reads the content type with
`Headers(raw=...)` (case-sensitive on raw names), finds none, and marks the response "excluded"
after Starlette's GZip responder has already held back `http.response.start` — so the body goes
out first and uvicorn raises "Expected ASGI message 'http.response.start'". Every browser sends
`Accept-Encoding: gzip`, so the web UI's socket never connects (its Invoke button stays disabled).
A response with no content type at all (a 204 such as `DELETE /api/v2/models/install`) is held back
and then marked "excluded" the same way, so it failed with a 500 too.
Applied to the built app's module: each response's start message gets lower-case header names, and
a start message still held back once the response is marked "excluded" is sent at once.
"""

from typing import Any

from starlette.types import Message

from patches.route_not_found import PatchTargetMissing


def apply_to_app(app: Any) -> None:  # noqa: ARG001 - same entry point shape as the other app patches
    from invokeai.app import api_app

    responder = getattr(api_app, "_ContentTypeAwareGZipResponder", None)
    if responder is None:
        raise PatchTargetMissing("invokeai.app.api_app._ContentTypeAwareGZipResponder not found")
    if getattr(responder.send_with_compression, "_pingvas_patched", False):
        return
    original = responder.send_with_compression

    async def send_with_compression(self: Any, message: Message) -> None:
        if message["type"] != "http.response.start":
            await original(self, message)
            return
        message["headers"] = [(k.lower(), v) for k, v in message.get("headers", [])]
        downstream, sent = self.send, []

        async def tracking_send(sent_message: Message) -> None:
            sent.append(sent_message)
            await downstream(sent_message)

        self.send = tracking_send
        try:
            await original(self, message)
        finally:
            self.send = downstream
        if self.content_type_is_excluded and not sent:
            await downstream(message)

    send_with_compression._pingvas_patched = True  # type: ignore[attr-defined]
    responder.send_with_compression = send_with_compression
