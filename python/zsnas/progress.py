"""Progress display for long work: a tqdm bar on a terminal, plain periodic lines otherwise.

A redirected log (CI, Slurm, nohup) gets one line every ``ZSNAS_PROGRESS_SECONDS`` (default 30)
and one at the end, never tqdm's carriage-return frames.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Optional


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("ZSNAS_PROGRESS_SECONDS", "30")))
    except ValueError:
        return 30.0


class LineProgress:
    """The subset of tqdm's interface zsnas uses, printing whole lines."""

    def __init__(self, total: Optional[int], desc: str, unit: str, initial: int = 0, stream=None,
                 interval: Optional[float] = None):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.stream = stream if stream is not None else sys.stderr
        self.interval = _interval() if interval is None else interval
        self.postfix = ""
        self._t0 = time.perf_counter()
        self._start_n = initial
        self._last = self._t0
        self._closed = False

    def line(self) -> str:
        dt = time.perf_counter() - self._t0
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f" ({100.0 * self.n / self.total:.0f} %)" if self.total else ""
        rate = (self.n - self._start_n) / dt if dt > 0 else 0.0
        eta = ""
        if self.total and rate > 0 and self.n < self.total:
            eta = f", eta {(self.total - self.n) / rate:.0f} s"
        post = f"; {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {done} {self.unit}{pct} in {dt:.0f} s{eta}{post}"

    def _emit(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._last = time.perf_counter()

    def refresh(self) -> None:
        if time.perf_counter() - self._last >= self.interval:
            self._emit()

    def update(self, k: int = 1) -> None:
        self.n += k
        self.refresh()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s
        if refresh:
            self.refresh()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._emit()


def progress_bar(total: Optional[int], desc: str, unit: str = "it", enabled: bool = True, initial: int = 0,
                 stream=None):
    """tqdm when `stream` (default stderr) is a terminal, LineProgress otherwise; a silent tqdm when disabled."""
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stderr
    if not enabled:
        return tqdm(total=total, initial=initial, disable=True)
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, dynamic_ncols=True,
                    smoothing=0.05)
    return LineProgress(total, desc, unit, initial=initial, stream=stream)


__all__ = ["progress_bar", "LineProgress"]
