"""Threads joined by bounded queues, for the video pipeline (``video.py``).

A stage runs on one thread, or (:meth:`Pipeline.ordered_stage`) on several that take items
in turn and hand their results on in the source's order: each worker holds at most one
result while it waits for its turn, so memory stays bounded and nothing downstream reorders.
The first error in any thread sets ``stop``; every wait polls it, so no thread is left blocked.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["DONE", "Pipeline"]

DONE = object()  # the end of a queue's items
_POLL_S = 0.1


class Pipeline:
    """Worker threads joined by bounded queues; the first error stops them all."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.threads: list[threading.Thread] = []

    def put(self, q: queue.Queue, item: Any) -> bool:
        """Put ``item``, waiting for room; False (not put) once the pipeline is stopping."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue) -> Any:
        """The next item, or DONE once the pipeline is stopping and ``q`` is empty."""
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if self.stop.is_set():
                    return DONE

    def stage(self, name: str, source: queue.Queue, sink: queue.Queue, fn: Callable) -> None:
        """``fn`` on every item of ``source`` into ``sink``, on one thread."""

        def loop() -> None:
            try:
                while (item := self.get(source)) is not DONE:
                    if not self.put(sink, fn(item)):
                        return
            except BaseException as exc:  # handed to the main thread, which reports it
                self.fail(exc)
            finally:
                self.put(sink, DONE) if not self.stop.is_set() else None

        self.spawn(name, loop)

    def ordered_stage(
        self, name: str, workers: int, source: queue.Queue, sink: queue.Queue, fn: Callable
    ) -> None:
        """``fn`` on ``workers`` threads, each taking the next item of ``source``; results go
        into ``sink`` in the order their items came (DONE last)."""
        if workers == 1:
            self.stage(name, source, sink, fn)
            return
        taking = threading.Lock()
        turn = threading.Condition()
        state = {"taken": 0, "next": 0, "exhausted": False}

        def take() -> tuple[Any, int]:
            # Ticket and item under one lock, so tickets follow the source's order.
            with taking:
                if state["exhausted"]:
                    return DONE, -1
                item = self.get(source)
                ticket = state["taken"]
                state["taken"] += 1
                state["exhausted"] = item is DONE
                return item, ticket

        def hand_on(ticket: int, result: Any) -> bool:
            with turn:
                while state["next"] != ticket:
                    if self.stop.is_set():
                        return False
                    turn.wait(_POLL_S)
            handed = self.put(sink, result)
            with turn:
                state["next"] += 1
                turn.notify_all()
            return handed

        def loop() -> None:
            try:
                while True:
                    item, ticket = take()
                    if item is DONE:
                        # The worker that took DONE passes it on after every result before it.
                        if ticket >= 0:
                            hand_on(ticket, DONE)
                        return
                    if not hand_on(ticket, fn(item)):
                        return
            except BaseException as exc:  # handed to the main thread, which reports it
                self.fail(exc)

        for i in range(workers):
            self.spawn(f"{name}-{i}", loop)

    def spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.stop.set()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
