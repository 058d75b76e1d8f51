"""InvokeAI's in-memory invocation cache, keyed by tenant as well as by the invocation, and kept
consistent across pods.

Stock keys are a hash of the invocation alone, so one tenant's identical node would be served
another tenant's output (an image name it cannot read, or a paid external result for free).

Each worker keeps its own cache (keys use Python's per-process `hash()`, outputs point at pod-local
tensors), but what invalidates it happens anywhere: an image deleted through an API pod, an
operator clearing or disabling the cache there. Those are relayed to every pod as queue signals
(`queue/signals.py`) and applied locally; the pod that made the change applies it at once.

External image requests (nano-banana) are never cached: each is a real, charged request.
"""

from typing import Optional, Union

from invokeai.app.invocations.baseinvocation import BaseInvocation, BaseInvocationOutput
from invokeai.app.invocations.external_image_generation import BaseExternalImageGenerationInvocation
from invokeai.app.services.invocation_cache.invocation_cache_memory import MemoryInvocationCache
from invokeai.app.services.invoker import Invoker

from invokeai_saas.queue.signals import CACHE_CLEAR, CACHE_DISABLE, CACHE_DROP, CACHE_ENABLE, QueueSignals, Signal
from tenant_middleware.context import current_tenant_id


NEVER_CACHED = -(2**63) + 7  # the key of nodes whose results are never reused (not a hash any tuple gets in practice)


class TenantInvocationCache(MemoryInvocationCache):
    def __init__(self, max_cache_size: int = 0, signals: QueueSignals | None = None, listen: bool = False) -> None:
        """`signals`: relay invalidations to the other pods; `listen`: apply theirs (pods that run items)."""
        super().__init__(max_cache_size=max_cache_size)
        self._signals = signals
        self._listen = listen

    def start(self, invoker: Invoker) -> None:
        # Stock's start, except that images and videos (shared by every pod) are dropped everywhere;
        # tensors and conditioning live on this pod's disk, so only this pod's entries can name them.
        self._invoker = invoker
        if self._max_cache_size == 0:
            return
        invoker.services.images.on_deleted(self._drop_everywhere)
        invoker.services.videos.on_deleted(self._drop_everywhere)
        invoker.services.tensors.on_deleted(self._delete_by_match)
        invoker.services.conditioning.on_deleted(self._delete_by_match)
        if self._signals is not None and self._listen:
            self._signals.subscribe(self._on_signal)

    @staticmethod
    def create_key(invocation: BaseInvocation) -> int:
        if isinstance(invocation, BaseExternalImageGenerationInvocation):
            return NEVER_CACHED  # each request is real, and charged: never answered from the cache
        return hash((current_tenant_id(), MemoryInvocationCache.create_key(invocation)))

    def get(self, key: Union[int, str]) -> Optional[BaseInvocationOutput]:
        return None if key == NEVER_CACHED else super().get(key)

    def save(self, key: Union[int, str], invocation_output: BaseInvocationOutput) -> None:
        if key != NEVER_CACHED:
            super().save(key, invocation_output)

    def _drop_everywhere(self, to_match: str) -> None:
        self._delete_by_match(to_match)
        self._relay(Signal(CACHE_DROP, name=to_match))

    def clear(self) -> None:
        super().clear()
        self._relay(Signal(CACHE_CLEAR))

    def enable(self) -> None:
        super().enable()
        self._relay(Signal(CACHE_ENABLE))

    def disable(self) -> None:
        super().disable()
        self._relay(Signal(CACHE_DISABLE))

    def _relay(self, signal: Signal) -> None:
        # In-process signals mean one process (the embedded studio): there is no other pod to tell.
        if self._signals is not None and type(self._signals) is not QueueSignals and self._max_cache_size > 0:
            self._signals.publish(None, signal)

    def _on_signal(self, signal: Signal) -> None:
        local = {
            CACHE_CLEAR: super().clear,
            CACHE_ENABLE: super().enable,
            CACHE_DISABLE: super().disable,
        }.get(signal.kind)
        if local is not None:
            local()
        elif signal.kind == CACHE_DROP and signal.name:
            self._delete_by_match(signal.name)
