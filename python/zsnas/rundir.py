"""Run directories (search and bench): one writer at a time, atomic files.

A run directory is locked while a run writes it: ``OUT/.lock`` is held with ``flock`` (the
kernel drops the lock when its process dies, even under kill -9) and names its holder (pid,
host, start time, command). A second run on the same directory refuses with that name; a lock
file whose process is gone is stale and is taken over, and the new run says whose it was.
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple, Union

LOCK_NAME = ".lock"


class RunDirError(ValueError):
    """A run directory cannot be used as asked (locked, missing, holding another run)."""


class RunLocked(RunDirError):
    def __init__(self, out: Path, holder: dict):
        self.out, self.holder = out, holder
        who = f"pid {holder.get('pid', '?')}"
        if holder.get("host") and holder.get("host") != socket.gethostname():
            who += f" on {holder['host']}"
        since = f" since {holder['started']}" if holder.get("started") else ""
        cmd = f" ({holder['command']})" if holder.get("command") else ""
        super().__init__(f"{out} is in use by {who}{since}{cmd}; wait for it to finish, stop it, "
                         f"or choose another output directory")


def write_atomic(path: Union[str, os.PathLike], text: Union[str, bytes]) -> None:
    """Write `text` (str or bytes) to `path` so a reader (or a crash) sees the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb" if isinstance(text, bytes) else "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def complete_csv_records(text: str) -> Tuple[List[List[str]], List[int]]:
    """The CSV records at the start of `text` that their writer finished, and where each ends
    (its offset in characters); what follows the last is a record torn by a kill mid-write.

    Records, not lines: a quoted field (an error text) may hold newlines. A record is finished
    once its closing newline is there. A malformed record before the end is an error.
    """
    pieces = text.split("\n")
    lines = [p + "\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    read = [0, 0]  # lines and characters the reader has taken

    def feed():
        for line in lines:
            read[0] += 1
            read[1] += len(line)
            yield line

    records, ends = [], []
    try:
        for rec in csv.reader(feed(), strict=True):
            if not lines[read[0] - 1].endswith("\n"):
                break
            records.append(rec)
            ends.append(read[1])
    except csv.Error as e:
        if read[0] < len(lines):  # not a tear at the end: a file edited by hand, say so
            raise RunDirError(f"malformed CSV record ending on line {read[0]}: {e}") from None
    return records, ends


class RunLock:
    """Exclusive lock on a run directory, held from acquire() (or ``with``) to release().

    ``stale`` is the holder record of a previous run that died holding the lock (None when the
    lock was free and clean).
    """

    def __init__(self, out: Union[str, os.PathLike]):
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self.fd: Optional[int] = None
        self.stale: Optional[dict] = None

    def _read(self, fd: int) -> dict:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        try:
            return json.loads(raw.decode()) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return {"pid": "?"}

    def acquire(self) -> "RunLock":
        self.out.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read(fd)
            os.close(fd)
            raise RunLocked(self.out, holder) from None
        # A holder record left in a lock nobody holds: its process died without releasing.
        previous = self._read(fd)
        self.stale = previous or None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(record).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        # Emptied, not removed: removing would let a waiter lock the unlinked file while a
        # third process creates and locks a new one.
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def describe_stale(self) -> Optional[str]:
        if not self.stale:
            return None
        s = self.stale
        return (f"took over a stale lock of pid {s.get('pid', '?')} on {s.get('host', '?')} "
                f"(started {s.get('started', '?')}), which ended without releasing it")

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


__all__ = ["RunLock", "RunLocked", "RunDirError", "write_atomic", "complete_csv_records", "LOCK_NAME"]
