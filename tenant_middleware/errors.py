"""The one catalog of refusals a user can see: HTTP status + machine code (ARCHITECTURE §6)."""

from enum import Enum


class ErrorCode(str, Enum):
    UNAUTHORIZED = "unauthorized"
    BAD_WEBHOOK_SIGNATURE = "bad_webhook_signature"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    PAYMENT_OVERDUE = "payment_overdue"
    FEATURE_NOT_IN_PLAN = "feature_not_in_plan"
    STORAGE_QUOTA_EXCEEDED = "storage_quota_exceeded"
    TENANT_SUSPENDED = "tenant_suspended"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    EMAIL_TAKEN = "email_taken"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    LAST_OWNER = "last_owner"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_INPUT = "invalid_input"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.BAD_WEBHOOK_SIGNATURE: 401,
    ErrorCode.INSUFFICIENT_CREDITS: 402,
    ErrorCode.PAYMENT_OVERDUE: 402,
    ErrorCode.FEATURE_NOT_IN_PLAN: 403,
    ErrorCode.STORAGE_QUOTA_EXCEEDED: 403,
    ErrorCode.TENANT_SUSPENDED: 403,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.EMAIL_NOT_VERIFIED: 403,
    ErrorCode.LAST_OWNER: 409,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SERVER_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}

# The code a bare HTTPException (raised by InvokeAI's own routes) gets, by status.
CODE_FOR_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_INPUT,
    401: ErrorCode.UNAUTHORIZED,
    402: ErrorCode.INSUFFICIENT_CREDITS,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.INVALID_INPUT,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


class ServiceError(Exception):
    """A refusal with a reason the user reads (`detail`) and a code a program reads."""

    def __init__(self, code: ErrorCode, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status_code = STATUS_OF[code]
        self.retry_after = retry_after  # seconds, sent as Retry-After (a 429's wait)

    def body(self) -> dict[str, str]:
        return {"detail": self.detail, "code": self.code.value}

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
