"""``python -m eos_core repair``: check the whole run store, heal what can be healed, and set aside
what cannot, without deleting anything a user made.

* the index: ``PRAGMA integrity_check`` (a damaged index is rebuilt from the run folders), rows of
  the wrong types are rewritten from their folders, rows whose folder is gone are dropped;
* each run folder: a damaged ``record.json`` is moved to the quarantine folder and the run is
  recovered from its artifacts; a damaged ``config.json`` (nothing can be read without it) moves the
  whole folder there; every artifact is read through :mod:`eos_core.store._results` (types, shapes, NaN)
  and a damaged one is moved there, so the rest of the run keeps working;
* the quarantine folder is ``<runs>/quarantine/<run id>/``, with ``reasons.txt`` saying when and
  why each file was moved; nothing is deleted but empty half-created folders and dead temp files;
* ``running`` runs whose process died are recorded ``interrupted``; live runs are left alone.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DamagedRun, EOSError
from . import _results as results
from ._atomic import TMP_PREFIX, atomic_write_bytes
from ._check import QUARANTINE
from ._index import (
    COLUMNS,
    HALF_MAX_AGE_S,
    check_index,
    folder_row,
    import_orphans,
    import_run,
    rebuild_index,
    run_folders,
    sweep_temp_files,
)
from ._report import RepairReport
from ._store import RunStore

WHOLE_RUN = "the whole run folder"


def quarantine(store: RunStore, run_id: str, names: list[str] | None, reason: str) -> Path:
    """Move files of a run (``names``; None: everything, then the empty folder) to
    ``<runs>/quarantine/<run_id>/`` and append the reason to its ``reasons.txt``.

    A name already there gets a ``.1``, ``.2``… suffix: an earlier quarantined copy is never replaced.
    """
    src, dest = store.run_dir(run_id), store.root / QUARANTINE / run_id
    dest.mkdir(parents=True, exist_ok=True)
    moved = names if names is not None else sorted(p.name for p in src.iterdir())
    for name in moved:
        target, n = dest / name, 0
        while target.exists() or target.name == "reasons.txt":
            n += 1
            target = dest / f"{name}.{n}"
        os.replace(src / name, target)
    if names is None:
        src.rmdir()
    log = dest / "reasons.txt"
    old = log.read_bytes() if log.exists() else b""
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {', '.join(moved) or WHOLE_RUN}: {reason}\n"
    atomic_write_bytes(log, old + line.encode())
    return dest


def artifact_damage(store: RunStore, run_id: str) -> list[DamagedRun]:
    """The damaged artifacts of a run, one :class:`DamagedRun` per reader that fails on a file
    (``err.file``); a missing file is not listed (nothing to move)."""
    methods: dict[str, Any] = {}

    def summary() -> None:
        methods.update(results.load_method_summary(store, run_id))

    checks: list[Callable[[], Any]] = [
        lambda: results.load_phase1(store, run_id) if results.has_phase1(store, run_id) else None,
        lambda: results.load_history(store, run_id), lambda: results.load_gap(store, run_id), summary,
        lambda: results.load_map(store, run_id)]
    files = sorted(p for p in store.run_dir(run_id).iterdir() if not p.name.startswith(TMP_PREFIX))
    for stem in [p.stem for p in files if p.suffix == ".pt"]:
        checks.append(lambda stem=stem: results.load_head(store, run_id, stem[len("head_"):])
                      if stem.startswith("head_") else store.load_state_dict(run_id, stem))
    # every other file at least parses (e.g. the embeddings of a run that never finished phase 1)
    for p in files:
        if p.suffix == ".npz":
            checks.append(lambda stem=p.stem: store.load_arrays(run_id, stem))
        elif p.suffix == ".json" and p.stem not in ("config", "record"):
            checks.append(lambda stem=p.stem: store.load_json(run_id, stem))
    found: list[DamagedRun] = []
    for check in checks:
        _collect(check, found)
    for name in methods:
        if store.has(run_id, f"synthetic_{name}", ".npz"):
            _collect(lambda name=name: results.load_synthetic(store, run_id, name), found)
    return found


def _collect(check: Callable[[], Any], found: list[DamagedRun]) -> None:
    try:
        check()
    except EOSError as err:
        if not isinstance(err, DamagedRun):
            return  # e.g. phase 1 not finished: nothing damaged
        file = getattr(err, "file", None)
        # config.json is judged by folder_row (types); a config RunConfig rejects is reported, not moved
        if file is not None and file != "config.json" and file not in [getattr(f, "file", None) for f in found]:
            found.append(err)


def _repair_folder(store: RunStore, rid: str, report: RepairReport) -> None:
    """Heal one run folder that is not live: its record, then its artifacts."""
    folder = store.root / rid
    for _ in range(3):  # a record set aside, then the row restored from the artifacts
        try:
            folder_row(store.root, rid)
            break
        except DamagedRun as err:
            file, reason = getattr(err, "file", None), getattr(err, "reason", "")
            contents = [p for p in folder.iterdir() if not p.name.startswith(TMP_PREFIX)]
            if file == "record.json":
                quarantine(store, rid, [file], reason)
                report.quarantined.append((rid, file, reason))
                if _readable_row(store, rid):  # the index still knows the run: rewrite its record from it
                    store.write_record(rid)
                elif import_run(store.index, rid, replace=True):  # else recover it from its artifacts
                    report.restored.append(rid)
                continue
            if not contents and time.time() - folder.stat().st_mtime <= HALF_MAX_AGE_S:
                return  # being created right now
            store.index.db(lambda con: con.execute("DELETE FROM runs WHERE id = ?", (rid,)))
            if not contents:
                shutil.rmtree(folder, ignore_errors=True)
                report.removed_folders.append(rid)
            else:  # no usable config.json: nothing of the run can be read
                why = reason if file == "config.json" else "no config.json"
                quarantine(store, rid, None, why)
                report.quarantined.append((rid, WHOLE_RUN, why))
            return
    for err in artifact_damage(store, rid):
        file, reason = err.file, err.reason  # type: ignore[attr-defined]
        if store.has(rid, Path(file).stem, Path(file).suffix):
            quarantine(store, rid, [file], reason)
            report.quarantined.append((rid, file, reason))


def _readable_row(store: RunStore, rid: str) -> bool:
    row = store.index.db(lambda con: con.execute(f"SELECT {COLUMNS} FROM runs WHERE id = ?", (rid,)).fetchone())
    try:
        return row is not None and store.record_from_row(row) is not None
    except DamagedRun:
        return False


def _live(store: RunStore) -> set[str]:
    """The ``running`` runs whose process still renews their lease."""
    rows = store.index.db(lambda con: con.execute(
        "SELECT id, status, updated, lease FROM runs WHERE status = 'running'").fetchall())
    return {rid for rid, status, updated, lease in rows if not store.is_stale(rid, status, updated, lease)}


def repair(store: RunStore) -> RepairReport:
    """Check and heal the whole store (see the module docstring); returns what was done."""
    opened, store.healed = store.healed, RepairReport()  # what opening the store did counts too, once
    report = RepairReport(rebuilt=opened.rebuilt, imported=list(opened.imported), removed_tmp=list(opened.removed_tmp))
    problem = check_index(store.index, "integrity_check")
    if problem is not None and rebuild_index(store.index, reason=problem):
        report.rebuilt = problem
    folders = set(run_folders(store.root))
    live = _live(store)  # a live run's files are being written: left alone
    for row in store.index.db(lambda con: con.execute(f"SELECT {COLUMNS} FROM runs").fetchall()):
        rid = row[0]
        if rid not in folders:
            store.index.db(lambda con, rid=rid: con.execute("DELETE FROM runs WHERE id = ?", (rid,)))
            report.dropped.append(rid)
            continue
        try:
            store.record_from_row(row)
        except DamagedRun:  # rewrite it from the folder (a damaged folder is handled below)
            if import_run(store.index, rid, replace=True):
                report.restored.append(rid)
    for rid in sorted(folders - live):
        _repair_folder(store, rid, report)
    report.imported += import_orphans(store.index)
    report.restored = list(dict.fromkeys(report.restored))
    store.list_runs()
    report.unreadable = [rid for rid, _ in store.damaged]
    for rid, status in store.index.db(lambda con: con.execute("SELECT id, status FROM runs").fetchall()):
        if status == "running" and rid not in live:
            store.interrupt_run(rid, "The process running this job stopped before it finished.")
            report.interrupted.append(rid)
    report.removed_tmp += sweep_temp_files(store.root)
    store.index.db(lambda con: con.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    return report
