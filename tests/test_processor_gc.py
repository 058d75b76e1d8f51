"""A worker pays InvokeAI's full garbage collection when it has nothing to run, not before every item,
and the garbage items leave behind is still collected."""

import gc
import weakref

import patches
from patches import processor_gc


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


def test_the_collection_before_each_item_is_deferred_until_the_worker_is_idle() -> None:
    patches.apply_all()
    from invokeai.app.services.session_processor import session_processor_default as module

    gc.disable()  # no automatic collection during the test: only the calls below may collect
    try:
        processor_gc.collect_if_owed()
        garbage = _Node()
        alive = weakref.ref(garbage)
        del garbage
        assert module.gc.collect() == 0  # what stock calls after each claim: nothing is walked
        assert alive() is not None
        assert processor_gc.collect_if_owed()  # the queue had nothing: the owed collection runs now
        assert alive() is None
        assert not processor_gc.collect_if_owed()  # nothing ran since: nothing owed
    finally:
        gc.enable()
    assert module.gc.get_threshold() == gc.get_threshold()  # the rest of the gc module is untouched
