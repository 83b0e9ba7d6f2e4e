"""Page 1's job panel text, form restoration and presets (Streamlit state, no drawing)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from eos_core.events import (
    DataLoading,
    Embedding,
    EpochDone,
    MapDone,
    MapFailed,
    MapStarted,
    MethodStarted,
    RunCreated,
    RunDone,
    from_dict,
)
from ui.jobs import Job
from ui.labels import LOG_RATIOS, PHASE_TEXT, method_name

FORM_JOB_KEY = "eos_form_job"
PRESET_KEY = "setup_preset"
# The augmentation widget's choices: TrainConfig.augment None (the dataset's default), True, False.
AUGMENT_CHOICES: dict[str, bool | None] = {"default": None, "on": True, "off": False}


def augment_choice(value: bool | None) -> str:
    """The augmentation widget's choice for a ``TrainConfig.augment`` value."""
    return next(k for k, v in AUGMENT_CHOICES.items() if v is value)


def augment_label(choice: str, dataset: str) -> str:
    """How the augmentation widget names a choice; "default" says what the dataset's default is."""
    if choice != "default":
        return choice
    from eos_core.config import DataConfig, RunConfig

    on = RunConfig(data=DataConfig(dataset=dataset)).augment_enabled
    return f"dataset default ({'on' if on else 'off'} for {dataset})"


def form_values(cfg: dict) -> dict:
    """Page 1's widget values (by widget key) for a ``RunConfig`` dict."""
    d, t = cfg.get("data", {}), cfg.get("train", {})
    out = {"setup_dataset": d.get("dataset"), "setup_profile": d.get("profile"), "setup_model": t.get("model"),
           "setup_loss": t.get("loss"), "setup_epochs": t.get("epochs"), "setup_seed": t.get("seed"),
           "setup_methods": list(cfg.get("methods") or []), "setup_k": cfg.get("k_neighbors"),
           "setup_cap_on": d.get("max_per_class") is not None}
    if "augment" in t:  # None is a value here (the dataset's default), so it is not filtered out below
        out["setup_augment"] = augment_choice(t["augment"])
    if d.get("max_per_class") is not None:
        out["setup_cap"] = int(d["max_per_class"])
    ratio = d.get("ratio")
    if ratio is not None and float(ratio) in LOG_RATIOS:  # the slider only has these stops
        out["setup_ratio"] = next(r for r in LOG_RATIOS if r == float(ratio))
    return {k: v for k, v in out.items() if v is not None}


def restore_form(job: Job | None) -> None:
    """Once per session and job: set page 1's form to the config of the job this session follows
    (a reload while training shows that job's settings, not the defaults). Call before the
    widgets are created."""
    if job is None or not job.config or st.session_state.get(FORM_JOB_KEY) == job.id:
        return
    st.session_state[FORM_JOB_KEY] = job.id
    for key, value in form_values(job.config).items():
        st.session_state[key] = value
    d = job.config.get("data") or {}
    folder = d.get("folder")
    if folder and Path(folder).is_dir():  # the job's own images: keep using its folder
        from eos_core.data import data_display_name, is_upload_folder, scan_image_folder
        from eos_core.errors import EOSError

        try:
            layout = scan_image_folder(folder)
        except EOSError:
            return
        source = "zip" if is_upload_folder(folder) else "local"
        st.session_state["setup_source"] = source
        st.session_state["eos_upload" if source == "zip" else "eos_local"] = {
            "file_id": None, "folder": folder, "classes": list(layout.classes), "split": layout.split,
            "source": source, "display_name": d.get("display_name"), "name": data_display_name(d), "typed": folder}
        if source == "local":
            st.session_state["setup_local_folder"] = folder


def apply_preset() -> None:
    """``on_change`` of the preset selector: set every widget of the form to the chosen preset.

    A preset whose dataset must come from a folder (cifar10-lt without a downloaded CIFAR-10) sets
    the dataset to "folder"; the folder itself is given in the Data block.
    """
    from eos_core.presets import preset_config
    from ui.cache import data_dir

    name = st.session_state.get(PRESET_KEY)
    if not name:
        return
    cfg = preset_config(name, data_dir=data_dir(), folder_pending=True)
    for key, value in form_values(cfg.to_dict()).items():
        st.session_state[key] = value
    if cfg.data.dataset == "folder" and cfg.data.folder is None:
        from ui.state import local_server

        # the preset's images are a folder with train/ and test/ (the CIFAR-10 JPEG stand-in): on
        # this machine's own server the path field is the short way in; shared, only a .zip is read
        st.session_state["setup_source"] = "local" if local_server() else "zip"


def overall_fraction(j: Job) -> float:
    """Progress of a training job in [0, 1] from its newest event (seeds: equal shares)."""
    last = j.last()
    if last is None:
        return 0.0
    seed = j.last("seed")
    if seed:  # several runs in one job: each run is an equal share
        return min(1.0, (seed["index"] + _fraction(last)) / max(1, seed["total"]))
    return _fraction(last)


def _fraction(last: dict) -> float:
    ev = from_dict(last)
    if isinstance(ev, EpochDone):
        return 0.05 + 0.7 * ev.stats.epoch / max(1, ev.stats.epochs)
    if isinstance(ev, MethodStarted):
        return 0.78 + 0.17 * ev.index / max(1, ev.total)
    return {RunCreated: 0.02, DataLoading: 0.02, Embedding: 0.76, RunDone: 0.95, MapStarted: 0.96,
            MapDone: 0.99, MapFailed: 0.99}.get(type(ev), 0.0)


def describe(j: Job) -> str:
    """One line on where a training job is."""
    if j.status == "queued":
        return "Waiting for another training job on this server to finish…"
    last = j.last()
    if last is None:
        return "starting…"
    seed = j.last("seed")
    prefix = f"Seed {seed['seed']} ({seed['index'] + 1}/{seed['total']}) · " if seed else ""
    ev = from_dict(last)
    if isinstance(ev, EpochDone):
        st_ = ev.stats
        return prefix + (f"Phase 1 · epoch {st_.epoch}/{st_.epochs} · loss {st_.loss:.4f} · "
                         f"train acc {st_.train_acc:.3f} · test balanced acc {st_.test_bacc:.3f}")
    if isinstance(ev, MethodStarted):
        return prefix + f"Phases 2–3 · {method_name(ev.name)} ({ev.index + 1}/{ev.total})"
    if isinstance(ev, RunCreated):
        return prefix + f"run {ev.run_id} created"
    ph = last.get("phase")
    return prefix + PHASE_TEXT.get(ph, ph or "")
