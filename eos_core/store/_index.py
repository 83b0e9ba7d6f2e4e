"""The run index: an SQLite cache of the run folders, and the folder reading it is rebuilt from.

The run folders are the truth (``config.json`` + ``record.json``, see :mod:`eos_core.store._store`); the
SQLite index (:class:`RunIndex`) is a cache of them. :func:`open_index` runs when a
:class:`~eos_core.store.RunStore` is created: a missing, empty or corrupt index is rebuilt, run
folders without an index row (a ``kill -9`` between ``mkdir`` and ``INSERT``) are imported, and
``.tmp-*`` files that no live writer holds are removed. :func:`~eos_core.store.repair` does the same
and more on demand (``python -m eos_core repair``, :mod:`eos_core.store._repair`).

This module knows nothing of :class:`~eos_core.store.RunStore`: it works on a :class:`RunIndex` and on
the runs folder, and the store is built on top of it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DamagedRun, DiskFull, StoreUnavailable
from ..names import HEADLINE
from ._atomic import TMP_PREFIX, disk_error
from ._check import config_problem, damaged_run, metrics_problem, missing_file, record_problem
from ._report import RepairReport

RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
RECORD = "record"  # record.json: the run's index row, mirrored in its folder
COLUMNS = "id, kind, created, updated, status, config, metrics, timings, message, lease"  # of a row tuple
T = TypeVar("T")
_log = logging.getLogger(__name__)

SCHEMA = """
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
    message TEXT NOT NULL DEFAULT '',
    lease REAL
)
"""

TMP_MIN_AGE_S = 1.0      # a temp file younger than this may not be locked by its writer yet
HALF_MAX_AGE_S = 600.0   # a run folder without config.json this old was never finished being created
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def prepare_root(root: Path) -> None:
    """Create ``root`` and prove it writable, or raise :class:`StoreUnavailable` with one sentence."""
    if root.exists() and not root.is_dir():
        raise StoreUnavailable(f"The runs folder {root} is a file, not a folder; choose another --runs-dir.")
    for parent in root.parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreUnavailable(f"The runs folder {root} cannot be created: {parent} is a file.")
            break
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=TMP_PREFIX + "probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        mapped = disk_error(err, root)
        if isinstance(mapped, StoreUnavailable):
            raise mapped from None
        raise StoreUnavailable(f"The runs folder {root} cannot be used ({err.strerror or err}).") from None


def is_corrupt(err: sqlite3.DatabaseError) -> bool:
    """Whether an sqlite error means a damaged file (not a busy or full one)."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code in _CORRUPT_CODES
    text = str(err).lower()
    return "malformed" in text or "not a database" in text


def index_error(err: sqlite3.DatabaseError, path: Path) -> Exception:
    """The one-sentence error for an sqlite failure that rebuilding cannot fix."""
    text = str(err).lower()
    if getattr(err, "sqlite_errorcode", None) == 13 or "disk is full" in text:
        return DiskFull(f"The disk holding {path.parent} is full; free some space and try again.")
    if "locked" in text or "busy" in text:
        return StoreUnavailable(f"The run index {path} is locked by another process; try again in a moment.")
    return StoreUnavailable(f"The run index {path} cannot be used ({err}).")


@contextmanager
def _root_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the store, held while the index is rebuilt (one process does it)."""
    with open(root / ".index.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class RunIndex:
    """The SQLite index of the runs folder ``root`` (``root/index.sqlite``).

    Safe to use from several threads and processes: each call opens its own short connection.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "index.sqlite"

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short autocommit connection (raw ``sqlite3`` errors pass through)."""
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            yield con
        finally:
            con.close()

    def db(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a connection; a corrupt index is rebuilt from the folders and ``fn`` retried.

        Raises :class:`~eos_core.errors.StoreUnavailable` or :class:`~eos_core.errors.DiskFull`
        (one sentence) for an sqlite failure that rebuilding cannot fix.
        """
        for attempt in (0, 1):
            try:
                with self.connect() as con:
                    return fn(con)
            except sqlite3.DatabaseError as err:
                if attempt == 0 and is_corrupt(err):
                    rebuild_index(self, reason=str(err))
                    continue
                raise index_error(err, self.path) from None
        raise AssertionError("unreachable")


def check_index(index: RunIndex, pragma: str = "quick_check") -> str | None:
    """None when the index opens, has the schema and passes ``PRAGMA <pragma>``; else why not."""
    try:
        with index.connect() as con:
            con.execute(SCHEMA)
            cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
            if "lease" not in cols:  # an index from before heartbeats
                con.execute("ALTER TABLE runs ADD COLUMN lease REAL")
            result = con.execute(f"PRAGMA {pragma}").fetchone()[0]
        return None if result == "ok" else str(result)
    except sqlite3.DatabaseError as err:
        if is_corrupt(err):
            return str(err)
        raise index_error(err, index.path) from None


def open_index(index: RunIndex) -> RepairReport:
    """Make the index usable: rebuild when corrupt, import orphan folders, sweep dead temp files."""
    report = RepairReport()
    problem = check_index(index)
    if problem is not None and rebuild_index(index, reason=problem):
        report.rebuilt = problem
    report.imported = import_orphans(index)
    report.removed_tmp = sweep_temp_files(index.root)
    return report


def rebuild_index(index: RunIndex, *, reason: str) -> bool:
    """Move a corrupt index aside (``index.sqlite.damaged``) and rebuild it from the run folders.

    Returns True when this call rebuilt it (False when another process already had).
    """
    with _root_lock(index.root):
        if check_index(index) is None:
            return False
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(index.path) + suffix)
            if src.exists():
                # One damaged copy is kept for inspection; an older one is replaced, not piled up.
                os.replace(src, Path(str(index.path) + ".damaged" + suffix))
        if check_index(index) is not None:
            raise StoreUnavailable(f"The run index {index.path} cannot be recreated ({reason}).")
    import_orphans(index)
    return True


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _created_from_id(run_id: str) -> float:
    return time.mktime(time.strptime(run_id[:15], "%Y%m%d-%H%M%S"))


def _headline(metrics: dict) -> dict:
    return {k: metrics[k] for k in HEADLINE if k in metrics}


_ABSENT = object()


def _read_checked(folder: Path, name: str) -> Any:
    """``<folder>/<name>`` parsed; ``_ABSENT`` when there is no such file; raises ValueError when damaged."""
    try:
        return json.loads((folder / name).read_bytes())
    except FileNotFoundError:
        return _ABSENT
    except (OSError, ValueError) as err:
        raise ValueError(str(err).splitlines()[0][:120] if str(err) else type(err).__name__) from None


def folder_row(root: Path, run_id: str) -> tuple:
    """The index row a run folder describes; raises :class:`DamagedRun` when its ``config.json`` or
    ``record.json`` is missing, unparsable or of the wrong types (``err.file`` names which).

    ``record.json`` gives kind, status and metrics; a folder from before it existed gets them from
    ``phase1.json`` / ``methods.json`` (``finished`` when phase 1 is complete, else ``interrupted``).
    """
    folder = root / run_id
    checked: dict[str, Any] = {}
    for name, check in (("config.json", config_problem), (f"{RECORD}.json", _record_file_problem)):
        try:
            checked[name] = obj = _read_checked(folder, name)
            problem = None if obj is _ABSENT else check(obj)
        except ValueError as err:
            problem = str(err)
        if problem:
            raise damaged_run(run_id, name, problem)
    config, rec = checked["config.json"], checked[f"{RECORD}.json"]
    if config is _ABSENT:
        raise missing_file(run_id, "config.json")
    if rec is _ABSENT:
        rec = _record_from_artifacts(folder, run_id)
    created = float(rec.get("created") or _created_from_id(run_id))
    status = rec.get("status", "interrupted")
    # lease 0: a "running" run is reported interrupted until its owner, if alive, renews the lease.
    return (run_id, str(rec.get("kind") or "pipeline"), created, float(rec.get("updated") or created), status,
            json.dumps(config), json.dumps(rec.get("metrics") or {}), json.dumps(rec.get("timings") or {}),
            str(rec.get("message") or ""), 0.0)


def _record_file_problem(rec: Any) -> str | None:
    return record_problem(rec) if isinstance(rec, dict) else "not a JSON object"


def _record_from_artifacts(folder: Path, run_id: str) -> dict[str, Any]:
    """The record of a folder without ``record.json`` (written before it existed, or set aside by
    ``repair``), from ``phase1.json`` and ``methods.json``."""
    phase1 = _read_json(folder / "phase1.json")
    methods = _read_json(folder / "methods.json")
    metrics: dict[str, Any] = {}
    if isinstance(phase1, dict) and isinstance(phase1.get("metrics"), dict):
        metrics["phase1"] = _headline(phase1["metrics"])
    if isinstance(methods, dict):
        metrics["methods"] = {k: _headline(v) for k, v in methods.items() if isinstance(v, dict)}
    if metrics_problem(metrics):  # the artifacts are damaged too: recover the run without numbers
        metrics = {}
    done = isinstance(phase1, dict)
    timings = phase1.get("timings", {}) if done else {}
    return {"kind": "pipeline", "created": _created_from_id(run_id), "status": "finished" if done else "interrupted",
            "message": "Recovered from the run folder." if done else "Recovered from the run folder: it never "
            "finished phase 1.", "metrics": metrics,
            "timings": timings if record_problem({"timings": timings}) is None else {}}


def import_run(index: RunIndex, run_id: str, *, replace: bool = False) -> bool:
    """Insert (or with ``replace``, overwrite) a run's index row from its folder; False if unreadable."""
    try:
        row = folder_row(index.root, run_id)
    except DamagedRun:
        return False
    sql = f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO runs ({COLUMNS}) VALUES ({','.join('?' * 10)})"
    index.db(lambda con: con.execute(sql, row))
    return True


def run_folders(root: Path) -> list[str]:
    """The ids of the run folders under ``root``, sorted (other entries are ignored)."""
    try:
        return sorted(p.name for p in os.scandir(root) if p.is_dir() and RUN_ID_RE.match(p.name))
    except OSError as err:
        _log.warning("The runs folder %s cannot be listed (%s); its runs are left out.", root, err)
        return []


def _indexed(index: RunIndex) -> set[str]:
    return {r[0] for r in index.db(lambda con: con.execute("SELECT id FROM runs").fetchall())}


def import_orphans(index: RunIndex) -> list[str]:
    """Import every run folder that has a readable ``config.json`` and no index row."""
    return import_unindexed(index)[0]


def import_unindexed(index: RunIndex, *, settle_s: float = 0.0) -> tuple[list[str], list[DamagedRun]]:
    """Import run folders without an index row: ``(imported ids, DamagedRun of each unreadable one)``.

    A folder younger than ``HALF_MAX_AGE_S`` without ``config.json`` is being created: skipped; so is
    one younger than ``settle_s`` without ``record.json`` (a live ``create_run`` between its
    ``config.json`` and its INSERT, which a listing must not import as ``interrupted``).
    """
    known, root = _indexed(index), index.root
    rows, damaged = [], []
    for rid in run_folders(root):
        if rid in known or (settle_s and not (root / rid / f"{RECORD}.json").exists()
                            and _young(root / rid, settle_s)):
            continue
        try:
            rows.append(folder_row(root, rid))
        except DamagedRun as err:
            if err.file is not None or not _young(root / rid):  # type: ignore[attr-defined]
                damaged.append(err)
    if rows:
        def insert(con: sqlite3.Connection) -> None:
            con.execute("BEGIN")  # one transaction: a rebuild of hundreds of runs takes milliseconds
            con.executemany(f"INSERT OR IGNORE INTO runs ({COLUMNS}) VALUES ({','.join('?' * 10)})", rows)
            con.execute("COMMIT")

        index.db(insert)
    return [row[0] for row in rows], damaged


def _young(folder: Path, age_s: float = HALF_MAX_AGE_S) -> bool:
    try:
        return time.time() - folder.stat().st_mtime < age_s
    except OSError:
        return False


def sweep_temp_files(root: Path, *, min_age_s: float = TMP_MIN_AGE_S) -> list[Path]:
    """Remove ``.tmp-*`` files no writer holds: unlocked (see ``atomic_write``) and ``min_age_s`` old.

    The age only covers the instant between a writer creating its temp file and locking it.
    """
    now, removed = time.time(), []
    for rid in [None, *run_folders(root)]:
        folder = root if rid is None else root / rid
        try:
            entries = list(os.scandir(folder))
        except OSError as err:  # e.g. a run deleted since it was listed
            _log.debug("Not sweeping %s: %s", folder, err)
            continue
        for e in entries:
            if not e.name.startswith(TMP_PREFIX) or not e.is_file(follow_symlinks=False):
                continue
            try:
                if now - e.stat(follow_symlinks=False).st_mtime < min_age_s:
                    continue
                with open(e.path, "rb") as fh:
                    try:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live writer
                    os.unlink(e.path)
                    removed.append(Path(e.path))
            except OSError as err:  # e.g. renamed into place by its writer since the folder was listed
                _log.debug("Temporary file %s left in place: %s", e.path, err)
                continue
    return removed

