"""One cache for who a caller is: our principals and InvokeAI's user records, forgotten together.

InvokeAI reads the caller's user record on every request and our middleware reads the caller's
principal; each is cached for `ACCOUNT_CACHE_TTL_S`. A removal, deactivation, role change or
suspension made through this process forgets both at once, so neither can vouch for an account
the other already dropped. Made on another pod (or the CLI), it applies here within the TTL.
"""

from typing import TYPE_CHECKING

from invokeai_saas.core.ttl_cache import TtlCache
from tenant_middleware.context import Principal

if TYPE_CHECKING:
    from invokeai.app.services.users.users_common import UserDTO

ACCOUNT_CACHE_TTL_S = 2.0


class AccountCache:
    def __init__(self, ttl_s: float = ACCOUNT_CACHE_TTL_S) -> None:
        self.principals: TtlCache[Principal | None] = TtlCache(ttl_s)
        self.users: TtlCache["UserDTO | None"] = TtlCache(ttl_s)

    def forget_user(self, user_id: str) -> None:
        self.users.forget(lambda key: key == user_id)
        self.principals.forget(lambda key: isinstance(key, tuple) and key[0] == user_id)

    def clear(self) -> None:
        self.users.clear()
        self.principals.clear()
