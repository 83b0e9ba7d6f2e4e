"""Named starting points (presets): a whole run's settings in one word, shared by the CLI and the app.

A preset fills a :class:`~eos_core.config.RunConfig`; explicit CLI flags or form changes override it.
Each preset's phase-1 recipe was chosen on *training* recall only (phase 1 must memorise every class,
as the paper's does), never on test results; ``bench/bench_presets.py`` measures each preset's wall
time and results on this project's CPU box and stores them in ``bench/results/presets.json``, from
which :func:`what_you_should_see` writes its paragraph (no number in it is typed by hand).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import DataConfig, HeadConfig, RunConfig, TrainConfig
from .data._datasets import default_data_dir
from .errors import ConfigError, DatasetUnavailable
from .names import CONTROL_METHOD, GAP_NAMES, method_name

__all__ = ["MEASUREMENTS", "PRESETS", "Preset", "get_preset", "load_measurements",
           "preset_config", "resolve_dataset", "what_you_should_see"]

# Where bench/bench_presets.py stores its measurements (absent in an installed copy without bench/).
MEASUREMENTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "presets.json"
# torchvision's CIFAR-10 folder inside the data dir: present once the built-in dataset was downloaded.
CIFAR10_MARKER = "cifar-10-batches-py"
# Oversamplers a verdict compares EOS with ("the best other oversampler").
OTHER_OVERSAMPLERS = ("ros", "smote", "bsmote", "adasyn")


@dataclass(frozen=True)
class Preset:
    """One named run setting.

    ``data``, ``train`` and ``head`` hold only the fields that differ from the config defaults.
    ``needs_folder`` names the dataset that must come from a folder with ``train/`` and ``test/``
    when the built-in one is not downloaded (``cifar10`` for ``cifar10-lt``).
    """

    name: str
    title: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    head: dict[str, Any] = field(default_factory=dict)
    needs_folder: str | None = None
    why: str = ""


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("digits", "digits ρ=50 (the default)",
           "scikit-learn's 8×8 digits, ρ=50, the engine's defaults: the quickest run.",
           why="The engine's default phase 1 (30 epochs, no augmentation) reaches train recall >= 0.95 in "
               "every class."),
    Preset("cifar10-lt", "CIFAR-10-LT ρ=100",
           "CIFAR-10 made long-tailed (ρ=100, largest class capped at 2000), no augmentation, 20 epochs: "
           "the small CNN on a CPU, ResNet-32 on a GPU; the paper's long-tailed CIFAR setting.",
           data={"dataset": "cifar10", "ratio": 100.0, "max_per_class": 2000},
           train={"epochs": 20, "augment": False}, needs_folder="cifar10",
           why="Chosen on training recall only: without augmentation the small CNN fits the training set; of "
               "30 and 20 epochs (seed 0, JPEG stand-in) both left every class's train recall above 0.95, so the "
               "shorter is the preset (bench/RESULTS.md, Presets); the class cap keeps a CPU run within minutes."),
    Preset("fashion-lt", "Fashion-MNIST-LT ρ=100",
           "Fashion-MNIST made long-tailed (ρ=100, largest class capped at 2000), no augmentation, 30 epochs: "
           "an easier set to contrast with CIFAR-10-LT.",
           data={"dataset": "fashion-mnist", "ratio": 100.0, "max_per_class": 2000},
           train={"epochs": 30, "augment": False},
           why="Chosen on training recall only: without augmentation phase 1 fits the training set (its "
               "smallest per-class train recall is in the paragraph below)."),
)}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (ConfigError naming the known ones otherwise)."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return PRESETS[name]


def resolve_dataset(preset: Preset, *, data_dir: str | os.PathLike | None = None,
                    folder: str | None = None, folder_pending: bool = False) -> tuple[str, str | None]:
    """``(dataset, folder)`` the preset runs on.

    A given ``folder`` wins (the dataset becomes ``"folder"``); else a preset that ``needs_folder``
    uses the built-in dataset when it is downloaded in ``data_dir``, and otherwise raises
    :class:`DatasetUnavailable` -- or, with ``folder_pending`` (the app, whose folder field is
    filled next), returns ``("folder", None)``.
    """
    dataset = preset.data.get("dataset", DataConfig().dataset)
    if folder:
        return "folder", folder
    if preset.needs_folder is None:
        return dataset, None
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if (root / CIFAR10_MARKER).is_dir():
        return dataset, None
    if folder_pending:
        return "folder", None
    raise DatasetUnavailable(f"The {preset.name} preset needs CIFAR-10: download it into the data folder, or give "
                             "a folder with train/ and test/ sub-folders of class folders (such as the JPEG "
                             "stand-in cifar10-jpeg).")


def preset_config(name: str, *, data_dir: str | os.PathLike | None = None, folder: str | None = None,
                  seed: int = 0, folder_pending: bool = False) -> RunConfig:
    """The full, validated RunConfig of preset ``name`` for one ``seed`` (see :func:`resolve_dataset`)."""
    p = get_preset(name)
    dataset, folder = resolve_dataset(p, data_dir=data_dir, folder=folder, folder_pending=folder_pending)
    data = DataConfig(**(p.data | {"dataset": dataset, "folder": folder}))
    cfg = RunConfig(data=data, train=TrainConfig(**p.train), head=HeadConfig(**p.head)).with_seed(seed)
    cfg.validate()
    return cfg


# --------------------------------------------------------------------------- "what you should see"

def load_measurements(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``bench/results/presets.json`` as a dict (empty when it was never measured)."""
    p = Path(path) if path is not None else MEASUREMENTS
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def _f3(v: float) -> str:
    return f"{v:.3f}"


def _signed(v: float) -> str:
    return f"{v:+.3f}".replace("-", "−")


def what_you_should_see(name: str, measured: dict[str, Any] | None = None) -> str:
    """One paragraph on what preset ``name`` gave when it was measured, written from the stored numbers.

    Parameters
    ----------
    measured : dict, optional
        ``load_measurements()``'s dict (read when omitted): ``{"presets": {name: {"date", "machine",
        "loadavg", "wall_s", "model", "methods": {m: {"balanced_accuracy", "delta_vs_crt"}},
        "size_gap_spearman", "size_gap_spearman_p"}}}``.
    """
    get_preset(name)
    m = (measured if measured is not None else load_measurements()).get("presets", {}).get(name)
    if not m:
        return f"The {name} preset has not been measured on this project's machine yet."
    methods = m["methods"]
    crt = methods[CONTROL_METHOD]["balanced_accuracy"]
    eos = methods["eos"]
    others = [o for o in OTHER_OVERSAMPLERS if o in methods]
    best = max(others, key=lambda o: methods[o]["balanced_accuracy"])
    lead = eos["balanced_accuracy"] - methods[best]["balanced_accuracy"]
    load = m.get("loadavg") or [float("nan")]
    rho = m["size_gap_spearman"]
    data = " on the CIFAR-10 JPEG stand-in (cifar10-jpeg)" if m.get("dataset") == "folder" else ""
    measure = GAP_NAMES.get(m.get("gap_measure", ""), "")
    parts = [
        f"Measured {m['date']}{data} on {m['machine']} (load average {load[0]:.2f}), one seed: the run took "
        f"{m['wall_s']:.0f} s with the {m['model']}, whose smallest per-class train recall was "
        f"{_f3(m['min_train_recall'])} (the CNN fitted its training set).",
        f"{method_name(CONTROL_METHOD)} (the control) scored balanced accuracy {_f3(crt)}; "
        f"EOS {_f3(eos['balanced_accuracy'])} ({_signed(eos['delta_vs_crt'])} vs cRT) and the best other "
        f"oversampler, {method_name(best)}, {_f3(methods[best]['balanced_accuracy'])} "
        f"({_signed(methods[best]['delta_vs_crt'])}).",
        f"EOS {'leads' if lead > 0 else 'trails'} it by {_f3(abs(lead))}.",
        f"The size–gap Spearman correlation{f' ({measure})' if measure else ''} is {_signed(rho)} "
        f"(p = {_f3(m['size_gap_spearman_p'])}): "
        + ("the smaller the class, the wider the gap." if rho < 0 and m["size_gap_spearman_p"] < 0.05
           else "no clear link between class size and gap in this run."),
        "One seed is a reading, not a verdict: another seed, or another number of torch threads (the app uses "
        "one fewer than the command line), moves these numbers by a few points; train more seeds for intervals.",
    ]
    return " ".join(parts)
