"""InvokeAI's in-memory invocation cache, keyed by tenant as well as by the invocation.

Stock keys are a hash of the invocation alone, so one tenant's identical node would be served
another tenant's output (an image name it cannot read, or a paid external result for free).
"""

from invokeai.app.invocations.baseinvocation import BaseInvocation
from invokeai.app.services.invocation_cache.invocation_cache_memory import MemoryInvocationCache

from tenant_middleware.context import current_tenant_id


class TenantInvocationCache(MemoryInvocationCache):
    @staticmethod
    def create_key(invocation: BaseInvocation) -> int:
        return hash((current_tenant_id(), MemoryInvocationCache.create_key(invocation)))
