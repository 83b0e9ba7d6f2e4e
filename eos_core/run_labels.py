"""Name runs by what differs between them ("ρ=10 · seed 1"), never by their ids.

A table or legend that compares runs needs column names a person can read. Ids say nothing, and a
full description repeats what every run shares; so each run is named by the config fields whose
values differ across the runs being compared, in a fixed order (data first, the seed last). Pure
functions over ``RunConfig`` dicts (``config.json``), shared by the study, the CLI and the app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .data._imagedata import dataset_display_name
from .names import LOSS_LABELS, MODEL_LABELS

__all__ = ["differing_fields", "ratio_label", "run_labels"]

# Never part of a label: the device does not change a result's meaning, and the method list is
# what a comparison table shows as rows.
IGNORED = ("train.device", "methods")
SEED_FIELDS = ("data.seed", "train.seed", "head.seed")


def ratio_label(v: Any) -> str:
    """``"ρ=10"``: how a ratio is named in labels, legends and axis ticks."""
    try:
        return f"ρ={float(v):g}"
    except (TypeError, ValueError):
        return f"ρ={v}"


def _model(v: Any) -> str:
    return "model auto" if v == "auto" else MODEL_LABELS.get(v, str(v))


def _augment(v: Any) -> str:
    return {True: "augmentation on", False: "augmentation off"}.get(v, "augmentation default")


# Known fields in label order, each with how its value is written.
FORMATS: dict[str, Callable[[Any], str]] = {
    "dataset": str,  # dataset + folder, written by dataset_display_name (a folder's name, never its path)
    "data.ratio": ratio_label,
    "data.profile": lambda v: f"{v} profile",
    "data.max_per_class": lambda v: "no cap" if v is None else f"cap {v}",
    "data.class_order": lambda v: "default class order" if v is None else "order " + ",".join(map(str, v)),
    "train.model": _model,
    "train.loss": lambda v: LOSS_LABELS.get(v, str(v)),
    "train.epochs": lambda v: f"{v} epochs",
    "train.augment": _augment,
    "train.lr": lambda v: f"lr {v:g}" if isinstance(v, (int, float)) else f"lr {v}",
    "train.batch_size": lambda v: "batch auto" if v is None else f"batch {v}",
    "head.epochs": lambda v: f"head {v} epochs",
    "head.init_from_phase1": lambda v: "head from phase 1" if v else "fresh head",
    "k_neighbors": lambda v: f"k={v}",
    "data.seed": lambda v: f"data seed {v}",
    "train.seed": lambda v: f"phase-1 seed {v}",
    "head.seed": lambda v: f"head seed {v}",
    "seed": lambda v: f"seed {v}",
}


def _flatten(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``{"data.ratio": 10.0, ...}`` with the dataset and its folder as one ``"dataset"`` field."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, Mapping):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = tuple(v) if isinstance(v, list) else v
        else:
            out[key] = tuple(value) if isinstance(value, list) else value
    data = cfg.get("data") or {}
    out.pop("data.folder", None)
    out["dataset"] = dataset_display_name(str(out.pop("data.dataset", "?")), data.get("folder"))
    for k in IGNORED:
        out.pop(k, None)
    return out


def _flatten_all(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every config flattened; the three seeds become one ``"seed"`` field when they are equal
    within every config (as in every app and CLI run), else they stay three fields."""
    flat = [_flatten(c) for c in configs]
    if all(len({f.get(k) for k in SEED_FIELDS}) == 1 for f in flat):
        for f in flat:
            f["seed"] = f.get(SEED_FIELDS[0])
            for k in SEED_FIELDS:
                f.pop(k, None)
    return flat


def _order(key: str) -> tuple[int, str]:
    order = list(FORMATS)
    if key == "seed":
        return (len(order) + 1, key)  # the seed always last (the three seeds just before it)
    return (order.index(key), key) if key in FORMATS else (len(order), key)


def differing_fields(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The flattened config fields whose values are not all equal across ``configs``, in label order.

    Parameters
    ----------
    configs : sequence of RunConfig dicts (``RunConfig.to_dict()`` / a run's ``config.json``)

    Returns
    -------
    list of str
        e.g. ``["data.ratio", "seed"]``; a field missing from a config counts as the value ``None``.
    """
    flat = _flatten_all(configs)
    keys = {k for f in flat for k in f}
    return sorted((k for k in keys if len({repr(f.get(k)) for f in flat}) > 1), key=_order)


def _write(key: str, value: Any) -> str:
    fmt = FORMATS.get(key)
    return fmt(value) if fmt is not None else f"{key}={value}"


def run_labels(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """One label per config, made of the fields that differ between them.

    Parameters
    ----------
    configs : sequence of RunConfig dicts

    Returns
    -------
    list of str, one per config
        e.g. ``["ρ=1 · seed 0", "ρ=10 · seed 0", "ρ=10 · seed 1"]``. When nothing differs (one run,
        or equal configs) the label is the run's ρ and seed. Labels that would still be equal (a
        repeated run of one config) get " (2)", " (3)", ... in order.
    """
    flat = _flatten_all(configs)
    keys = differing_fields(configs) or ["data.ratio", "seed"]
    labels = [" · ".join(_write(k, f.get(k)) for k in keys) for f in flat]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out
