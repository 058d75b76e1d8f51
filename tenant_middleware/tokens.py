"""A bearer JWT's verification, remembered until the token expires.

Our middleware and InvokeAI's auth dependency check the same token on every request, and
verifying it (HMAC, JSON, pydantic) costs more than the cached lookups that follow. Whether a
token is genuine and unexpired depends only on the token, the signing secret and the clock, so a
success is remembered under (secret, full token) and answered only while the token's own `exp`
lies ahead. A failure is never remembered. This says nothing about whether the token is still
honoured (user removed, password changed, tenant suspended): the principal and user lookups
decide that on every request.

The TokenData handed out is shared between requests: callers read it, never change it.
"""

import base64
import binascii
import json
import threading
import time

from invokeai.app.services.auth.token_service import TokenData, get_jwt_secret, verify_token

MAX_TOKENS = 10_000
NO_EXPIRY_HOLD_S = 300.0  # a token without `exp` never expires; it is only re-verified now and then

_verified: dict[tuple[str, str], tuple[float, TokenData]] = {}
_lock = threading.Lock()


def verified_token(token: str) -> TokenData | None:
    """`verify_token(token)`, answered from memory while the token is unexpired."""
    try:
        key = (get_jwt_secret(), token)
    except RuntimeError:
        return None  # no secret yet: verify_token refuses every token too
    entry = _verified.get(key)
    if entry is not None and time.time() < entry[0]:
        return entry[1]
    data = verify_token(token)
    if data is not None:
        expires_at = _expiry(token)
        if expires_at is not None:
            _remember(key, expires_at, data)
    return data


def _expiry(token: str) -> float | None:
    """When verify_token starts refusing this verified token; None (not remembered) if unreadable."""
    try:
        payload = token.split(".")[1]
        exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("exp")
        return float(exp) if exp is not None else time.time() + NO_EXPIRY_HOLD_S
    except (IndexError, ValueError, TypeError, AttributeError, binascii.Error):
        return None


def _remember(key: tuple[str, str], expires_at: float, data: TokenData) -> None:
    with _lock:
        if len(_verified) >= MAX_TOKENS:
            now = time.time()
            for stale in [k for k, (until, _) in _verified.items() if until <= now]:
                del _verified[stale]
            if len(_verified) >= MAX_TOKENS:
                _verified.clear()
        _verified[key] = (expires_at, data)
