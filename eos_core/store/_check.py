"""Type checks of what the run store reads, and the one sentence for a damaged run.

JSON that parses can still be wrong (``{"data": "digits"}``, ``"created": "yesterday"``,
``"metrics": "garbage"``): every reader of an index row, a ``record.json`` or a ``config.json``
checks the types here, so a damaged file raises :class:`DamagedRun` for its own run instead of an
``AttributeError`` in whichever page or command touches it first.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import DamagedRun

REPAIR = "python -m eos_core repair"
QUARANTINE = "quarantine"  # the folder inside the runs folder where `repair` moves damaged files
STATUSES = ("running", "finished", "failed", "cancelled", "interrupted")
_SECTIONS = ("data", "train", "head")
# Config fields the pages and the CLI format or compare without RunConfig: (section, key) -> types.
_CONFIG_FIELDS: dict[tuple[str, str], tuple[type, ...]] = {
    ("data", "dataset"): (str,), ("data", "folder"): (str, type(None)), ("data", "profile"): (str,),
    ("data", "ratio"): (int, float), ("data", "seed"): (int,), ("train", "seed"): (int,),
    ("head", "seed"): (int,), ("train", "epochs"): (int,), ("train", "loss"): (str,),
}


def damaged_run(run_id: str, file: str | None, what: str, *,
                fix: str = "moves it to the quarantine folder") -> DamagedRun:
    """The :class:`DamagedRun` of one run: one sentence naming the run, the file and the repair command.

    ``file`` None means the run's index row; ``err.run_id``, ``err.file`` and ``err.reason`` let
    ``repair`` act on it.
    """
    where = "its index row" if file is None else file
    err = DamagedRun(f"Run {run_id} cannot be opened: {where} is damaged ({what}); `{REPAIR}` {fix}, "
                     "and other runs are not affected.")
    err.run_id, err.file, err.reason = run_id, file, what  # type: ignore[attr-defined]
    return err


def missing_file(run_id: str, file: str) -> DamagedRun:
    """A file the run needs is absent (never written, removed, or moved to the quarantine folder)."""
    err = DamagedRun(f"Run {run_id} cannot be opened: it has no {file} (removed, never written, or moved to "
                     f"the {QUARANTINE} folder by `{REPAIR}`); other runs are not affected.")
    err.run_id, err.file, err.reason = run_id, None, "missing"  # type: ignore[attr-defined]
    return err


def is_number(v: Any) -> bool:
    """A real number (``bool`` is not one)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def json_kind(v: Any) -> str:
    """What a parsed JSON value is, in words (\"a string\", \"an object\"…)."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def config_problem(config: Any) -> str | None:
    """Why a run config (the ``config`` column, ``config.json``) is unusable, or None."""
    if not isinstance(config, dict):
        return f"the config is {json_kind(config)}, not an object"
    for section in _SECTIONS:
        if section in config and not isinstance(config[section], dict):
            return f"config.{section} is {json_kind(config[section])}, not an object"
    methods = config.get("methods", [])
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        return "config.methods is not a list of names"
    for (section, key), types in _CONFIG_FIELDS.items():
        value = config.get(section, {}).get(key, types[0]())
        if not isinstance(value, types) or isinstance(value, bool):
            return f"config.{section}.{key} is {'not a whole number' if is_number(value) else json_kind(value)}"
    return None


def _headline_problem(name: str, obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"{name} is {json_kind(obj)}, not an object"
    for k, v in obj.items():
        if v is not None and not is_number(v):
            return f"{name}.{k} is {json_kind(v)}, not a number"
    return None


def metrics_problem(metrics: Any) -> str | None:
    """Why a record's ``metrics`` (``{"phase1": headline, "methods": {m: headline}}``) is unusable."""
    if not isinstance(metrics, dict):
        return f"metrics is {json_kind(metrics)}, not an object"
    if "phase1" in metrics and (p := _headline_problem("metrics.phase1", metrics["phase1"])):
        return p
    methods = metrics.get("methods", {})
    if not isinstance(methods, dict):
        return f"metrics.methods is {json_kind(methods)}, not an object"
    for m, head in methods.items():
        if p := _headline_problem(f"metrics.methods.{m}", head):
            return p
    return None


def record_problem(rec: dict[str, Any]) -> str | None:
    """Why a run record (an index row or ``record.json``, parsed) is unusable, or None.

    Checks ``kind``, ``created``, ``updated`` (finite numbers), ``status``, ``message``, ``metrics``,
    ``timings`` (an object of numbers) and, when present, ``config``.
    """
    if not isinstance(rec.get("kind", "pipeline"), str):
        return "kind is not a string"
    for key in ("created", "updated"):
        v = rec.get(key, 0.0)
        if not is_number(v) or not math.isfinite(v):
            return f"{key} is {json_kind(v) if not is_number(v) else v}, not a time"
    if rec.get("status", "interrupted") not in STATUSES:
        return f"status {str(rec.get('status'))[:20]!r} is not one of {', '.join(STATUSES)}"
    if not isinstance(rec.get("message", ""), str):
        return "message is not a string"
    if p := metrics_problem(rec.get("metrics", {})):
        return p
    if p := _headline_problem("timings", rec.get("timings", {})):
        return p
    return config_problem(rec["config"]) if "config" in rec else None
