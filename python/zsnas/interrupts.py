"""SIGTERM and SIGINT as an exception at a safe point, so a stopped run checkpoints first.

``timeout``, Slurm, Kubernetes and ``docker stop`` send SIGTERM; Python's default is to die on
the spot. Inside ``StopSignals()`` both signals raise :class:`Interrupted` (a KeyboardInterrupt,
so existing Ctrl-C handling applies) in the main thread — at once while a proxy runs, but only
after the current ``critical()`` section (telling the engine, appending rows, writing a
checkpoint) has finished, so no file is left half-written. Handlers are installed only in the
main thread and only over the default ones: a service's own handlers are left alone.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Optional


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int):
        self.signum = signum
        self.signame = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(self.signame)


def exit_code(exc: BaseException) -> int:
    """128 + signal for Interrupted, 130 (SIGINT) for a plain KeyboardInterrupt."""
    return getattr(exc, "exit_code", 128 + signal.SIGINT)


def signal_name(exc: BaseException) -> str:
    return getattr(exc, "signame", "SIGINT")


class StopSignals:
    _DEFAULTS = {signal.SIGINT: (signal.default_int_handler, signal.SIG_DFL), signal.SIGTERM: (signal.SIG_DFL,)}

    def __init__(self):
        self._saved = {}
        self._depth = 0
        self._pending: Optional[int] = None

    def _handle(self, signum, frame):
        if self._depth:
            self._pending = self._pending or signum
            return
        raise Interrupted(signum)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig, defaults in self._DEFAULTS.items():
                if signal.getsignal(sig) in defaults:
                    self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._saved.items():
            signal.signal(sig, old)
        self._saved.clear()

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A signal arriving inside is raised when the outermost critical section ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self._pending is not None:
            signum, self._pending = self._pending, None
            raise Interrupted(signum)

    def stopping(self) -> None:
        """From now on signals are only noted: the run is already on its way out."""
        self._depth += 1


__all__ = ["Interrupted", "StopSignals", "exit_code", "signal_name"]
