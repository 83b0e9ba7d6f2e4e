"""The run store: an SQLite index plus one artifact folder per run.

The run folders are the truth and the index is a cache of them, so nothing a crash leaves behind
loses a run:

* every file is written by :func:`eos_core.store.atomic_write` (a ``.tmp-*`` file in the same folder,
  flushed, fsynced, then ``os.replace``-d into place): a reader sees the old or the complete new file;
* each run folder holds ``config.json`` and ``record.json`` (kind, status, message, headline
  metrics), rewritten on every status change; an index that is missing, empty or corrupt is rebuilt
  from them (:mod:`eos_core.store._index`), also on demand with ``python -m eos_core repair``;
* an index row or ``record.json`` that cannot be parsed or has the wrong types
  (:mod:`eos_core.store._check`) is skipped by :meth:`RunStore.list_runs` and listed in
  :attr:`RunStore.damaged`, never fatal; a damaged artifact raises :class:`DamagedRun` for its run;
  ``repair`` (:mod:`eos_core.store._repair`) moves damaged files to the ``quarantine`` folder;
* liveness is a heartbeat (:mod:`eos_core.store._heartbeat`): while a run is ``running`` its process
  renews a lease every ``heartbeat_s`` seconds from a daemon thread; a ``running`` run whose lease has
  expired (its process died, whatever its pid or host name) is reported ``interrupted``.

Run ids are generated (time stamp + random hex) and validated before they touch the file system:
user text never becomes a path.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import ConfigError, DamagedRun, EOSError
from ._atomic import atomic_write_bytes, disk_error
from ._check import damaged_run, missing_file, record_problem
from ._heartbeat import Heartbeat
from ._index import (
    COLUMNS,
    RECORD,
    RUN_ID_RE,
    RunIndex,
    folder_row,
    import_run,
    import_unindexed,
    open_index,
    prepare_root,
)

STALE_BEATS = 6    # a lease lasts this many heartbeats: one missed beat (a busy GIL) is not death
_ARTIFACT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")
T = TypeVar("T")
_log = logging.getLogger(__name__)
_UNREADABLE = {".json": "not valid JSON", ".npz": "not a readable NumPy archive", ".pt": "not a readable weights file"}


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


def default_heartbeat_s() -> float:
    """Seconds between heartbeats: ``$EOS_HEARTBEAT_S`` (tests shorten it) or 5."""
    env = os.environ.get("EOS_HEARTBEAT_S", "5")
    try:
        return max(0.05, float(env))
    except ValueError:
        _log.warning("EOS_HEARTBEAT_S=%r is not a number of seconds; the heartbeat beats every 5 s.", env)
        return 5.0


def new_run_id() -> str:
    """A fresh id: ``YYYYmmdd-HHMMSS-xxxxxx`` (sortable by time, unique by the random part)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


# --------------------------------------------------------------------------- the store

class RunStore:
    """SQLite index + artifact folders under ``root``.

    Safe to use from several threads and processes: each call opens its own short connection.

    Attributes
    ----------
    index : eos_core.store.RunIndex
        The SQLite index (``index.db(fn)`` runs ``fn`` on a connection, rebuilding a corrupt index).
    damaged : list[tuple[str, str]]
        ``(run id, one sentence)`` of the runs the last :meth:`list_runs` skipped: index rows that are
        not JSON or of the wrong types, folders whose ``config.json`` or ``record.json`` is damaged
        (``python -m eos_core repair`` restores or sets them aside).
    healed : eos_core.store.RepairReport
        What opening the store fixed (index rebuilt, folders imported, dead temp files removed).
    """

    def __init__(self, root: str | os.PathLike | None = None, *, heartbeat_s: float | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_runs_dir()
        self.index = RunIndex(self.root)
        self.index_path = self.index.path
        self.heartbeat_s = float(heartbeat_s) if heartbeat_s is not None else default_heartbeat_s()
        self.damaged: list[tuple[str, str]] = []
        self._heartbeat = Heartbeat(self.heartbeat_s, self._beat)
        prepare_root(self.root)
        self.healed = open_index(self.index)  # a RepairReport: what opening had to fix

    # ------------------------------------------------------------------ index
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short autocommit connection to the index (raw ``sqlite3`` errors pass through)."""
        with self.index.connect() as con:
            yield con

    def _lease(self) -> float:
        return time.time() + STALE_BEATS * self.heartbeat_s

    def create_run(self, config: dict[str, Any], kind: str = "pipeline") -> str:
        """Register a new ``running`` run owned by this process; returns its generated id."""
        run_id = new_run_id()
        try:
            self.run_dir(run_id, must_exist=False).mkdir(parents=True, exist_ok=False)
        except OSError as err:
            raise disk_error(err, self.root) from None
        self.save_json(run_id, "config", config)
        now = time.time()
        # An upsert: a concurrent rebuild may already have imported the folder as interrupted.
        self.index.db(lambda con: con.execute(
            "INSERT INTO runs (id, kind, created, updated, status, pid, host, config, lease) "
            "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
            "lease = excluded.lease, pid = excluded.pid, host = excluded.host",
            (run_id, kind, now, now, "running", os.getpid(), socket.gethostname(), json.dumps(config), self._lease())))
        self.write_record(run_id)
        self._heartbeat.add(run_id)
        return run_id

    def _set(self, run_id: str, **fields: Any) -> None:
        self._check_id(run_id)
        fields["updated"] = time.time()
        fields["lease"] = self._lease()
        cols = ", ".join(f"{k} = ?" for k in fields)
        vals = [json.dumps(v) if k in ("metrics", "timings") else v for k, v in fields.items()]

        def update(con: sqlite3.Connection) -> int:
            return con.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*vals, run_id)).rowcount

        if self.index.db(update) == 0:
            # The index lost the row (deleted or rebuilt under a live run): restore it from the folder.
            if not self.run_dir(run_id, must_exist=False).is_dir() or not import_run(self.index, run_id) \
                    or self.index.db(update) == 0:
                raise UnknownRun(f"No run with id {run_id!r} in {self.root}.")
        self.write_record(run_id)
        if fields.get("status", "running") != "running":
            self._heartbeat.discard(run_id)

    def _beat(self, run_id: str) -> bool:
        """Renew a running run's lease; False when the run is no longer running here."""
        def renew(con: sqlite3.Connection) -> int:
            return con.execute("UPDATE runs SET lease = ? WHERE id = ? AND status = 'running'",
                               (self._lease(), run_id)).rowcount

        if self.index.db(renew):
            return True
        exists = self.index.db(lambda con: con.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone())
        return exists is None and import_run(self.index, run_id) and bool(self.index.db(renew))

    def write_record(self, run_id: str) -> None:
        """Mirror a run's index row in its folder's ``record.json`` (a damaged row leaves the file as it is)."""
        row = self.index.db(lambda con: con.execute(f"SELECT {COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone())
        if row is None:
            return
        rid, kind, created, updated, status, _config, metrics, timings, message, _lease = row
        try:
            rec = {"id": rid, "kind": kind, "created": created, "updated": updated, "status": status,
                   "message": message, "metrics": json.loads(metrics), "timings": json.loads(timings)}
        except ValueError:  # a damaged row: keep the folder's last good record
            return
        self.save_json(run_id, RECORD, rec)

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

    def fail_run(self, run_id: str, message: str, *, error: BaseException | None = None) -> None:
        """Record a failure; a ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM in the CLI) is a cancel.

        ``error`` defaults to the exception being handled, so a caller's ``except BaseException``
        block records Ctrl-C as ``cancelled`` without knowing about it.
        """
        err = error if error is not None else sys.exc_info()[1]
        if isinstance(err, KeyboardInterrupt):
            self.cancel_run(run_id, message=str(err) or "Cancelled with Ctrl-C.")
            return
        self._set(run_id, status="failed", message=str(message)[:2000])

    def cancel_run(self, run_id: str, message: str = "Cancelled by the user.") -> None:
        self._set(run_id, status="cancelled", message=message)

    def interrupt_run(self, run_id: str, message: str) -> None:
        """Record a ``running`` run whose process died as ``interrupted`` (what ``repair`` does)."""
        self._set(run_id, status="interrupted", message=message)

    def reopen_run(self, run_id: str) -> None:
        """Mark a finished run as being extended (e.g. more methods) by this process."""
        self._set(run_id, status="running", pid=os.getpid(), host=socket.gethostname())
        self._heartbeat.add(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """One run's record. Raises :class:`UnknownRun`, or :class:`DamagedRun` for an unreadable row."""
        self._check_id(run_id)

        def select(con: sqlite3.Connection) -> tuple | None:
            return con.execute(f"SELECT {COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()

        row = self.index.db(select)
        if row is None and (self.root / run_id).is_dir():
            # A folder the index does not know (a crash between mkdir and INSERT, a lost index);
            # a damaged config.json or record.json raises DamagedRun naming the file.
            folder_row(self.root, run_id)
            row = self.index.db(select) if import_run(self.index, run_id) else None
        if row is None:
            raise UnknownRun(f"No run with id {run_id!r} in {self.root}.")
        return self.record_from_row(row)

    def list_runs(self, *, kind: str | None = None) -> list[RunRecord]:
        """All readable runs, newest first; unreadable rows, and run folders whose ``config.json`` or
        ``record.json`` is damaged, go to :attr:`damaged`.

        ``running`` runs whose heartbeat stopped are reported ``interrupted``.
        """
        _, unreadable = import_unindexed(self.index, settle_s=10.0)  # folders the index lost since opening
        rows = self.index.db(lambda con: con.execute(f"SELECT {COLUMNS} FROM runs ORDER BY created DESC").fetchall())
        records, damaged = [], []
        for row in rows:
            try:
                records.append(self.record_from_row(row))
            except DamagedRun as err:
                damaged.append((str(row[0]), str(err)))
        self.damaged = damaged + [(err.run_id, str(err)) for err in unreadable]  # type: ignore[attr-defined]
        return [r for r in records if kind is None or r.kind == kind]

    def delete_run(self, run_id: str) -> None:
        """Remove a run's record and its folder."""
        self._check_id(run_id)
        self._heartbeat.discard(run_id)
        self.index.db(lambda con: con.execute("DELETE FROM runs WHERE id = ?", (run_id,)))
        shutil.rmtree(self.run_dir(run_id, must_exist=False), ignore_errors=True)

    def is_stale(self, run_id: str, status: str, updated: float, lease: float | None) -> bool:
        """Whether a ``running`` row's owner stopped renewing its lease."""
        if status != "running" or self._heartbeat.owns(run_id):
            return False
        expiry = lease if lease is not None else updated + STALE_BEATS * self.heartbeat_s
        return expiry < time.time()

    def record_from_row(self, row: tuple) -> RunRecord:
        """The record of an index row (``COLUMNS`` order); raises :class:`DamagedRun` for a row of the
        wrong types; a ``running`` row whose lease expired is ``interrupted``."""
        rid, kind, created, updated, status, config, metrics, timings, message, lease = row
        try:
            parsed = [json.loads(v) for v in (config, metrics, timings)]
        except (TypeError, ValueError) as err:
            raise damaged_run(rid, None, f"not JSON: {err}", fix="restores it from the run folder") from None
        problem = record_problem({"kind": kind, "created": created, "updated": updated, "status": status,
                                  "message": message, "config": parsed[0], "metrics": parsed[1],
                                  "timings": parsed[2]})
        if problem:  # valid JSON of the wrong types: as damaged as unparsable JSON
            raise damaged_run(rid, None, problem, fix="restores it from the run folder")
        if self.is_stale(rid, status, updated, lease):
            status = "interrupted"
            message = message or "The process running this job stopped before it finished (no heartbeat)."
        return RunRecord(rid, kind, created, updated, status, *parsed, message)

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
        if not isinstance(name, str) or not _ARTIFACT_RE.match(name):
            raise ConfigError(f"Invalid artifact name {name!r}.")
        return self.run_dir(run_id) / f"{name}{suffix}"

    def has(self, run_id: str, name: str, suffix: str) -> bool:
        return self._artifact(run_id, name, suffix).exists()

    def _read(self, run_id: str, name: str, suffix: str, parse: Callable[[Path], T]) -> T:
        path = self._artifact(run_id, name, suffix)
        try:
            return parse(path)
        except FileNotFoundError:
            raise missing_file(run_id, path.name) from None
        except Exception as err:  # noqa: BLE001 - any failure to parse a saved file means a damaged file
            # Plain words, never the library's text: it can be long, technical, or hold a server path.
            reason = _UNREADABLE.get(suffix, "unreadable")
            if isinstance(err, OSError) and err.strerror:
                reason = err.strerror.lower()  # "is a directory", "permission denied"
            raise damaged_run(run_id, path.name, reason) from None

    def save_json(self, run_id: str, name: str, obj: Any) -> None:
        atomic_write_bytes(self._artifact(run_id, name, ".json"), json.dumps(obj, indent=1).encode())

    def load_json(self, run_id: str, name: str) -> Any:
        return self._read(run_id, name, ".json", lambda p: json.loads(p.read_bytes()))

    def save_arrays(self, run_id: str, name: str, **arrays: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self._artifact(run_id, name, ".npz"), buf.getvalue())

    def load_arrays(self, run_id: str, name: str) -> dict[str, np.ndarray]:
        def parse(path: Path) -> dict[str, np.ndarray]:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}

        return self._read(run_id, name, ".npz", parse)

    def save_state_dict(self, run_id: str, name: str, state_dict: dict) -> None:
        import torch  # deferred: torch loads in seconds; reading a run's JSON and arrays needs none

        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
        atomic_write_bytes(self._artifact(run_id, name, ".pt"), buf.getvalue())

    def load_state_dict(self, run_id: str, name: str) -> dict:
        import torch  # deferred: torch loads in seconds; reading a run's JSON and arrays needs none

        # weights_only=True: a checkpoint can hold tensors only, never code.
        return self._read(run_id, name, ".pt", lambda p: torch.load(p, map_location="cpu", weights_only=True))
