"""Session processors: a worker pod's (InvokeAI's, made cluster-aware) and an API pod's (runs nothing).

A worker claims from the shared queue as one worker id per generation device, renews its leases
on a heartbeat (which also reaps dead workers' items and notices a lost lease or a cancel), listens
for queue signals (new work, cancels made on any pod, pause/resume), and on `stop()` hands its
items back instead of leaving them in progress. Pause is a flag in the database that every pod
reads, so pausing on any API pod pauses every worker.
"""

import gc
import logging
import threading
from typing import Any

from invokeai.app.services.events.events_common import FastAPIEvent, UserAccessChangedEvent
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.session_processor.session_processor_base import SessionProcessorBase
from invokeai.app.services.session_processor.session_processor_common import SessionProcessorStatus
from invokeai.app.services.session_processor.session_processor_default import DefaultSessionProcessor

from invokeai_saas.db.database import utcnow
from invokeai_saas.dispatch.claims import POD_ID, bind_worker
from invokeai_saas.dispatch.signals import CANCEL, PAUSE, RESUME, WAKE, Signal
from invokeai_saas.records.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import system_scope

logger = logging.getLogger("pingvas.worker")


class NoSessionProcessor(SessionProcessorBase):
    """An `api` pod's processor: queue items are run by `pingvas worker` pods. Its status is the
    workers' real state; pause and resume set the shared flag the workers follow."""

    def start(self, invoker: Invoker) -> None:
        self._invoker = invoker

    def _queue(self) -> SqlSessionQueue:
        return self._invoker.services.session_queue  # type: ignore[return-value]

    def resume(self) -> SessionProcessorStatus:
        self._queue().set_paused(False)
        return self.get_status()

    def pause(self) -> SessionProcessorStatus:
        self._queue().set_paused(True)
        return self.get_status()

    def get_status(self) -> SessionProcessorStatus:
        queue = self._queue()
        with system_scope():
            running = not queue.is_paused() and queue.dispatcher.live_workers() > 0
            processing = queue.dispatcher.items_in_progress() > 0
        return SessionProcessorStatus(is_started=running, is_processing=processing)

    def get_running_queue_item_owners(self) -> set[str]:
        return set()


class TenantAwareSessionProcessor(DefaultSessionProcessor):
    """InvokeAI's processor, one claimant per generation device, sharing the queue with other pods."""

    def __init__(self, polling_interval: float = 5.0, heartbeat_seconds: float = 10.0, **kwargs: Any) -> None:
        super().__init__(polling_interval=polling_interval, **kwargs)  # type: ignore[arg-type]
        self._heartbeat_seconds = heartbeat_seconds
        self._ready = threading.Event()
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._started_at = utcnow()
        self.worker_ids: list[str] = []

    def _queue(self) -> SqlSessionQueue:
        return self._invoker.services.session_queue  # type: ignore[return-value]

    def start(self, invoker: Invoker) -> None:
        self._ready.clear()
        super().start(invoker)  # threads wait in _process until the pause state is applied
        self.worker_ids = [f"{POD_ID}#{index}" for index in range(len(self._workers))]
        queue = self._queue()
        with system_scope():
            if queue.is_paused():
                self._resume_event.clear()
        queue.signals.subscribe(self._on_signal)
        self._heartbeat_stop.clear()
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="pingvas-heartbeat", daemon=True)
        self._heartbeat.start()
        gc.collect()
        gc.freeze()  # what start-up made lives on: later collections walk only what items create
        self._ready.set()

    def _process(self, worker: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self._ready.wait()
        bind_worker(self.worker_ids[self._workers.index(worker)])
        super()._process(worker=worker, **kwargs)

    def stop(self, *args: Any, **kwargs: Any) -> None:
        queue = self._queue()
        queue.stop_claiming()
        super().stop(*args, **kwargs)
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join(timeout=queue.dispatcher.lease.total_seconds())
        self._heartbeat_stop.set()
        returned = queue.hand_back(self.worker_ids)
        if returned:
            logger.info("handed back queue items %s", [r.item_id for r in returned])
        with system_scope():
            queue.dispatcher.forget(self.worker_ids)
        queue.signals.stop()

    def _is_queue_item_terminal(self, item_id: int) -> bool:
        # Stock reads the whole item (its session JSON included) to learn its status. The thread is
        # bound to the item's tenant by now, so no scope switch; system scope only if it is not found.
        queue = self._queue()
        status = queue.status_of(item_id)
        if status is None:
            with system_scope():
                status = queue.status_of(item_id)
        return status in (None, "canceled", "failed", "completed")

    # region shared control

    def pause(self) -> SessionProcessorStatus:
        self._queue().set_paused(True)
        return super().pause()

    def resume(self) -> SessionProcessorStatus:
        self._queue().set_paused(False)
        return super().resume()

    def _on_signal(self, signal: Signal) -> None:
        if signal.kind == WAKE:
            self._poll_now()
        elif signal.kind == CANCEL:
            for worker in self._workers:
                queue_item = worker.queue_item
                if queue_item is not None and queue_item.item_id == signal.item_id:
                    worker.cancel_event.set()
                    self._poll_now()
        elif signal.kind == PAUSE:
            self._resume_event.clear()
        elif signal.kind == RESUME:
            self._resume_event.set()

    # endregion

    # region heartbeat

    def _heartbeat_loop(self) -> None:
        """Beats at once (the workers are listed as soon as they start), then every interval."""
        while True:
            try:
                self.beat()
            except Exception:
                logger.exception("heartbeat failed; retrying")
            if self._heartbeat_stop.wait(self._heartbeat_seconds):
                return

    def beat(self) -> None:
        """Renew this pod's leases, stop items it no longer holds, return dead workers' items."""
        queue = self._queue()
        # Items seen before renewing: one claimed after this read is not judged by this renewal.
        running = [(worker, worker.queue_item) for worker in self._workers]
        with system_scope():
            queue.dispatcher.beat(self.worker_ids, self._started_at)
            held = queue.dispatcher.renew(self.worker_ids)
            paused = queue.is_paused()
        for (worker, queue_item), worker_id in zip(running, self.worker_ids):
            if queue_item is not None and worker.queue_item is queue_item and held.get(queue_item.item_id) != worker_id:
                worker.cancel_event.set()  # canceled elsewhere, or the lease was lost: stop running it
        if paused == self._resume_event.is_set():  # a missed pause/resume signal
            (self._resume_event.clear if paused else self._resume_event.set)()
        queue.reap()

    # endregion

    async def _on_user_access_changed(self, event: FastAPIEvent[UserAccessChangedEvent]) -> None:
        # Its cancel-on-deactivation handler runs on the event loop with no tenant scope, where our
        # tenant-scoped queue would find none of the user's running items.
        with system_scope():  # asyncio.to_thread inside carries this scope to its cancel thread
            await super()._on_user_access_changed(event)
