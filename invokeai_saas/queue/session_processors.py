"""Session processors: a worker pod's (InvokeAI's, made cluster-aware) and an API pod's (runs nothing).

A worker claims from the shared queue as one worker id per generation device, renews its leases
on a heartbeat (which also reaps dead workers' items and notices a lost lease or a cancel), listens
for queue signals (new work, cancels made on any pod, pause/resume), and on `stop()` hands its
items back instead of leaving them in progress. Pause is a flag in the database that every pod
reads, so pausing on any API pod pauses every worker.

A failing item fails alone: whatever goes wrong running, saving or completing a session fails that
item (or, when the database is unreachable, leaves it to the reaper) and the thread goes on. Should a
processor thread end anyway, its leases stop renewing (the heartbeat renews only what a live thread
is running), `dead_workers()` says so to `/healthz` and `/readyz`, and its item goes back to the queue
with that attempt counted, so `PINGVAS_MAX_ATTEMPTS` ends an item that keeps killing workers.
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
from invokeai.app.services.session_processor.workflow_call_runtime import WorkflowCallQueueLifecycle
from invokeai.app.services.session_queue.session_queue_common import SessionQueueItemNotFoundError

from invokeai_saas.money import metering
from invokeai_saas.db.database import utcnow
from invokeai_saas.core.running_claim import POD_ID, bind_worker
from invokeai_saas.core.metrics import WORKER_ERRORS
from invokeai_saas.queue.signals import CANCEL, PAUSE, RESUME, WAKE, Signal
from invokeai_saas.queue.session_queue_sql import SqlSessionQueue
from tenant_middleware.context import system_scope

logger = logging.getLogger("pingvas.worker")

# Errors that mean the database could not be reached: not the item's fault, so it is neither failed
# nor charged; its lease lapses and the reaper returns it to the queue once the database answers.
DATABASE_OUTAGES = frozenset({"OperationalError", "InterfaceError", "DisconnectionError", "PendingRollbackError"})


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


class TopLevelItemLifecycle(WorkflowCallQueueLifecycle):
    """Stock re-reads every item once its session ran (its session JSON parsed again) to resume, fail
    or cancel the parent of a workflow-call child. An item with no parent has nothing to do there,
    and an item's parent never changes, so only a child's run pays that read."""

    def run_queue_item(self, queue_item: Any) -> None:
        if queue_item.parent_item_id is None:
            self._session_runner.run(queue_item)
            return
        super().run_queue_item(queue_item)


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
        self._dead: dict[str, str] = {}  # worker id -> why its thread ended while the processor ran

    def _queue(self) -> SqlSessionQueue:
        return self._invoker.services.session_queue  # type: ignore[return-value]

    def start(self, invoker: Invoker) -> None:
        self._ready.clear()
        super().start(invoker)  # threads wait in _process until the pause state is applied
        for worker in self._workers:
            worker.runner.workflow_call_queue_lifecycle = TopLevelItemLifecycle(worker.runner)
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
        worker_id = self.worker_ids[self._workers.index(worker)]
        bind_worker(worker_id)
        try:
            super()._process(worker=worker, **kwargs)  # returns only when stopped, or on a fatal error
        finally:
            if not kwargs["stop_event"].is_set():
                self._dead[worker_id] = "its thread ended on a fatal error (see the log)"
                logger.critical("session processor thread %s ended; this pod reports itself unhealthy", worker_id)

    def dead_workers(self) -> dict[str, str]:
        """Worker ids whose thread ended while the processor runs: the pod can no longer do its work."""
        return dict(self._dead)

    def _on_non_fatal_processor_error(
        self, queue_item: Any, error_type: str, error_message: str, error_traceback: str
    ) -> None:
        """Stock's handler saves the session and fails the item; if either raises again (the session
        that failed to save, a database that went away), its thread ends. Here nothing escapes."""
        WORKER_ERRORS.labels(error_type[:64]).inc()
        try:
            self._fail_item(queue_item, error_type, error_message, error_traceback)
        except Exception:
            logger.exception("could not fail queue item %s; its lease will lapse", getattr(queue_item, "item_id", None))

    def _fail_item(self, queue_item: Any, error_type: str, error_message: str, error_traceback: str) -> None:
        logger.error("Non-fatal error in session processor %s: %s\n%s", error_type, error_message, error_traceback)
        if queue_item is None or error_type in DATABASE_OUTAGES:
            return  # a database outage: the reaper returns the item once its lease lapses
        queue = self._queue()
        metering.node_failed(queue_item.item_id)  # the session's own failure: charged as a node's is
        try:
            queue.set_queue_item_session(queue_item.item_id, queue_item.session)
        except SessionQueueItemNotFoundError:
            return  # deleted, or no longer this worker's
        except Exception:
            logger.warning("queue item %s: its session could not be saved; failing it as stored", queue_item.item_id)
        queue.fail_queue_item(queue_item.item_id, error_type, error_message, error_traceback)

    def stop(self, *args: Any, **kwargs: Any) -> None:
        queue = self._queue()
        queue.stop_claiming()
        interrupted = set(self._running_items())  # cut short by this stop: those attempts do not count
        super().stop(*args, **kwargs)
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join(timeout=queue.dispatcher.lease.total_seconds())
        self._heartbeat_stop.set()
        returned = queue.hand_back(self.worker_ids, uncounted=interrupted)
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

    def _running_items(self) -> dict[int, str]:
        """{item_id: worker_id} of the items live threads are running now."""
        return {
            worker.queue_item.item_id: worker_id
            for worker, worker_id in zip(self._workers, self.worker_ids)
            if worker.queue_item is not None and worker_id not in self._dead
        }

    def beat(self) -> None:
        """Renew the leases of the items this pod's live threads run (a dead thread's item lapses),
        charge their device time so far, stop items it no longer holds or that ran out of credits,
        return dead workers' items."""
        queue = self._queue()
        # Items seen before renewing: one claimed after this read is not judged by this renewal.
        running = [(worker, worker.queue_item) for worker in self._workers]
        clocks = metering.clocked_items()  # read first: an item clocked before is listed below if it runs
        items = self._running_items()
        with system_scope():
            queue.dispatcher.beat([w for w in self.worker_ids if w not in self._dead], self._started_at)
            held = queue.dispatcher.renew(items)
            paused = queue.is_paused()
        metering.forget(clocks - set(items))  # attempts that ended elsewhere (a cancel on an API pod)
        exhausted = set(queue.charge_running([item_id for item_id in held]))
        for (worker, queue_item), worker_id in zip(running, self.worker_ids):
            if queue_item is None or worker.queue_item is not queue_item:
                continue
            if held.get(queue_item.item_id) != worker_id or queue_item.item_id in exhausted:
                worker.cancel_event.set()  # canceled elsewhere, out of credits, or the lease was lost
        if paused == self._resume_event.is_set():  # a missed pause/resume signal
            (self._resume_event.clear if paused else self._resume_event.set)()
        queue.reap()

    # endregion

    async def _on_user_access_changed(self, event: FastAPIEvent[UserAccessChangedEvent]) -> None:
        # Its cancel-on-deactivation handler runs on the event loop with no tenant scope, where our
        # tenant-scoped queue would find none of the user's running items.
        with system_scope():  # asyncio.to_thread inside carries this scope to its cancel thread
            await super()._on_user_access_changed(event)
