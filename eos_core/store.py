"""The run store: an SQLite index plus one artifact folder per run.

Crash safety (a run killed mid-way, even with ``kill -9``, never damages other runs or the index):

* the index is SQLite in WAL mode; every change is one short transaction;
* artifacts are written to a temporary file in the run folder, flushed, then ``os.replace``-d into
  place, so a reader sees either the old file or the complete new one;
* a run records the pid of the process that owns it; a ``running`` run whose process is gone is
  reported (and marked) ``interrupted``.

Run ids are generated (time stamp + random hex) and validated before they touch the file system:
user text never becomes a path.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import socket
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import EOSError

RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
STATUSES = ("running", "finished", "failed", "cancelled", "interrupted")
_ARTIFACT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    timings TEXT NOT NULL DEFAULT '{}',
    message TEXT NOT NULL DEFAULT ''
)
"""


class UnknownRun(EOSError, KeyError):
    """A run id that is malformed or not in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "Unknown run."


@dataclass
class RunRecord:
    """One row of the index."""

    id: str
    kind: str
    created: float
    updated: float
    status: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    timings: dict[str, Any]
    message: str


def default_runs_dir() -> Path:
    """The runs folder: ``$EOS_RUNS_DIR`` or a per-user folder."""
    env = os.environ.get("EOS_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "eos-explorer" / "runs"


def new_run_id() -> str:
    """A fresh id: ``YYYYmmdd-HHMMSS-xxxxxx`` (sortable by time, unique by the random part)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class RunStore:
    """SQLite index + artifact folders under ``root``.

    Safe to use from several threads and processes: each call opens its own short connection.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path = self.root / "index.sqlite"
        with self._connect() as con:
            con.execute(_SCHEMA)

    # ------------------------------------------------------------------ index
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            yield con
        finally:
            con.close()

    def create_run(self, config: dict[str, Any], kind: str = "pipeline") -> str:
        """Register a new ``running`` run owned by this process; returns its generated id."""
        run_id = new_run_id()
        self.run_dir(run_id, must_exist=False).mkdir(parents=True, exist_ok=False)
        self.save_json(run_id, "config", config)
        now = time.time()
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs (id, kind, created, updated, status, pid, host, config) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, kind, now, now, "running", os.getpid(), socket.gethostname(), json.dumps(config)),
            )
        return run_id

    def _set(self, run_id: str, **fields: Any) -> None:
        self._check_id(run_id)
        fields["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        vals = [json.dumps(v) if k in ("metrics", "timings") else v for k, v in fields.items()]
        with self._connect() as con:
            cur = con.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*vals, run_id))
            if cur.rowcount == 0:
                raise UnknownRun(f"No run with id {run_id!r} in {self.root}.")

    def update_run(self, run_id: str, *, metrics: dict | None = None, timings: dict | None = None) -> None:
        """Merge ``metrics`` / ``timings`` into a run's record (status unchanged)."""
        rec = self.get_run(run_id)
        fields: dict[str, Any] = {}
        if metrics is not None:
            fields["metrics"] = {**rec.metrics, **metrics}
        if timings is not None:
            fields["timings"] = {**rec.timings, **timings}
        if fields:
            self._set(run_id, **fields)

    def finish_run(self, run_id: str, metrics: dict | None = None, timings: dict | None = None) -> None:
        self.update_run(run_id, metrics=metrics, timings=timings)
        self._set(run_id, status="finished", message="")

    def fail_run(self, run_id: str, message: str) -> None:
        self._set(run_id, status="failed", message=str(message)[:2000])

    def cancel_run(self, run_id: str) -> None:
        self._set(run_id, status="cancelled", message="Cancelled by the user.")

    def reopen_run(self, run_id: str) -> None:
        """Mark a finished run as being extended (e.g. more methods) by this process."""
        self._set(run_id, status="running", pid=os.getpid(), host=socket.gethostname())

    def get_run(self, run_id: str) -> RunRecord:
        self._check_id(run_id)
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(f"No run with id {run_id!r} in {self.root}.")
        return self._record(row)

    def list_runs(self, *, kind: str | None = None) -> list[RunRecord]:
        """All runs, newest first. Dead ``running`` runs are marked ``interrupted`` on the way."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM runs ORDER BY created DESC").fetchall()
        records = [self._record(r) for r in rows]
        return [r for r in records if kind is None or r.kind == kind]

    def delete_run(self, run_id: str) -> None:
        """Remove a run's record and its folder."""
        import shutil

        self._check_id(run_id)
        with self._connect() as con:
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id, must_exist=False), ignore_errors=True)

    def _record(self, row: tuple) -> RunRecord:
        (rid, kind, created, updated, status, pid, host, config, metrics, timings, message) = row
        if status == "running" and host == socket.gethostname() and not _pid_alive(pid):
            status = "interrupted"
            message = message or "The process running this job stopped before it finished."
            with self._connect() as con:
                con.execute("UPDATE runs SET status = ?, message = ? WHERE id = ? AND status = 'running'",
                            (status, message, rid))
        return RunRecord(rid, kind, created, updated, status, json.loads(config), json.loads(metrics),
                         json.loads(timings), message)

    # ------------------------------------------------------------------ artifacts
    def _check_id(self, run_id: str) -> None:
        if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
            raise UnknownRun(f"{run_id!r} is not a valid run id.")

    def run_dir(self, run_id: str, *, must_exist: bool = True) -> Path:
        """The artifact folder of a run (validated id, never built from free text)."""
        self._check_id(run_id)
        path = self.root / run_id
        if must_exist and not path.is_dir():
            raise UnknownRun(f"No run with id {run_id!r} in {self.root}.")
        return path

    def _artifact(self, run_id: str, name: str, suffix: str) -> Path:
        if not _ARTIFACT_RE.match(name):
            raise ValueError(f"Invalid artifact name {name!r}.")
        return self.run_dir(run_id) / f"{name}{suffix}"

    def has(self, run_id: str, name: str, suffix: str) -> bool:
        return self._artifact(run_id, name, suffix).exists()

    def save_json(self, run_id: str, name: str, obj: Any) -> None:
        _atomic_write_bytes(self._artifact(run_id, name, ".json"), json.dumps(obj, indent=1).encode())

    def load_json(self, run_id: str, name: str) -> Any:
        return json.loads(self._artifact(run_id, name, ".json").read_text())

    def save_arrays(self, run_id: str, name: str, **arrays: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        _atomic_write_bytes(self._artifact(run_id, name, ".npz"), buf.getvalue())

    def load_arrays(self, run_id: str, name: str) -> dict[str, np.ndarray]:
        with np.load(self._artifact(run_id, name, ".npz"), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def save_state_dict(self, run_id: str, name: str, state_dict: dict) -> None:
        import torch

        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
        _atomic_write_bytes(self._artifact(run_id, name, ".pt"), buf.getvalue())

    def load_state_dict(self, run_id: str, name: str) -> dict:
        import torch

        # weights_only=True: a checkpoint can hold tensors only, never code.
        return torch.load(self._artifact(run_id, name, ".pt"), map_location="cpu", weights_only=True)
