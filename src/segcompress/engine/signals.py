"""Ctrl-C (SIGINT) and SIGTERM end a training run cleanly instead of killing it mid-write.

The first signal only asks the trainer to stop (``Trainer.request_stop``): the current step
finishes, every rank agrees to stop at the same step, and the run leaves a loadable ``last.pt``
behind. A second signal gives up waiting: SIGINT raises ``KeyboardInterrupt`` at once and SIGTERM
terminates the process with the default action; checkpoint writes are atomic, so even then no
file is left half written. The exit status follows the shell convention 128 + signal number
(130 for SIGINT, 143 for SIGTERM), so schedulers and scripts can tell an interrupted run apart.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from segcompress.errors import SegcompressError

__all__ = ["STOP_SIGNALS", "GracefulStop", "RunInterrupted", "exit_code_for"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(signum: int) -> int:
    """The shell's status for a process ended by ``signum`` (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


class RunInterrupted(SegcompressError):
    """A run stopped on request; the message says how to resume it."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = exit_code_for(signum)


class GracefulStop:
    """Context manager: while active, SIGINT/SIGTERM call ``on_stop`` instead of killing.

    Handlers can only be installed from the main thread; elsewhere (a notebook worker thread)
    this is a no-op and signals keep their usual effect.

    Args:
        on_stop: called once, from the signal handler, with nothing but a flag to set.
        announce: print a one-line notice on the first signal (rank 0 only under DDP).
    """

    def __init__(self, on_stop: Callable[[], None], *, announce: bool = True) -> None:
        self.on_stop = on_stop
        self.announce = announce
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def signal_name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # a second signal: stop waiting
            self._restore()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        if self.announce:
            again = "Ctrl-C" if signum == signal.SIGINT else "the signal"
            print(
                f"segcompress: {signal.Signals(signum).name} received; finishing the current "
                f"step, then stopping with a loadable checkpoint (send {again} again to stop "
                "at once)",
                file=sys.stderr,
                flush=True,
            )
        self.on_stop()
