"""How long phase 1 will take on this machine, measured before training.

The estimate times a few SGD steps of the model that would be built (forward + backward + update on
random tensors of the dataset's shape, at the effective batch size, after one warm-up step) and a
few inference batches, then adds up one epoch: every training image once through a step, and the
per-epoch scoring (the whole test set, plus the gap snapshot's training rows) through inference.
Why measure instead of a table: the same model runs 30x slower on a loaded 2-core box than on an
idle one, and 100x faster on a GPU; only this machine knows. Step times are cached per (model,
device, image size, channels) in memory and on disk (``<cache dir>/estimate/step_times.json``,
re-measured after an hour), so the form asks once per shape.

Timed steps miss what a real epoch also pays (Python per step, the loss's weights, the snapshot's gap
statistics), so every finished phase 1 records how many times longer it took than its timed estimate
(:func:`record_phase1`, per model, device and image shape, the median of the last five); later
estimates are scaled by that ratio and say so. What it leaves out: loading the data and phases 2-3
(seconds on a CPU for the presets); ``bench/RESULTS.md`` compares it with measured runs. The median
of the timed steps is kept, not the fastest: other work on a shared machine slows the real run too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..data._cache import array_cache_dir
from ..names import MODEL_LABELS
from ..store._atomic import atomic_write_bytes

__all__ = ["WARN_SECONDS", "Phase1Estimate", "cache_file", "estimate_phase1", "record_phase1", "seconds_per_image"]

WARN_SECONDS = 600.0  # above this the form warns before Train (10 minutes)
TIMED_STEPS = 10      # at most this many steps timed after the warm-up step; their median is kept
CACHE_MAX_AGE_S = 3600.0  # a disk entry older than this is measured again: a step timed while the machine
                          # was busy would otherwise stay in every later estimate
OBSERVED_KEEP = 5     # finished runs whose measured / estimated ratio is kept per key (their median is used)
TIME_BUDGET_S = 3.0   # stop timing once this much was spent (ResNet-32 on a CPU: ~5 s a step, so one step)

_memory: dict[str, dict[str, float]] = {}
_lock = threading.Lock()
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase1Estimate:
    """Phase 1's expected duration: ``seconds = seconds_per_image * images_per_epoch * epochs``."""

    model: str                # the model that will be built ("auto" resolved)
    device: str               # "cpu", "cuda", "mps"
    batch_size: int           # the effective batch size the steps were timed at
    seconds_per_image: float  # one image's share of a forward + backward + update step
    steps_per_epoch: int
    eval_images_per_epoch: int       # test images (+ snapshot training rows) scored after every epoch
    eval_seconds_per_image: float    # one image's share of an inference batch
    epochs: int
    seconds: float
    calibration: float | None = None  # measured / timed of earlier finished runs here (``seconds`` includes it)
    calibration_runs: int = 0

    @property
    def warn(self) -> bool:
        """True when phase 1 is expected to take longer than :data:`WARN_SECONDS`."""
        return self.seconds > WARN_SECONDS

    def sentence(self) -> str:
        """One sentence for the form (rounded for reading; the dataclass holds the numbers)."""
        mins = self.seconds / 60
        when = f"about {self.seconds:.0f} s" if self.seconds < 120 else f"about {mins:.0f} min"
        model = MODEL_LABELS.get(self.model, self.model)
        text = (f"Phase 1 should take {when} here: {model} on the {self.device.upper()}, {self.epochs} epochs × "
                f"{self.steps_per_epoch} steps of {self.batch_size} images, "
                f"plus {self.eval_images_per_epoch} images scored after each epoch, "
                "from a few steps timed on this machine now")
        if self.calibration is not None:
            runs = f"{self.calibration_runs} finished run{'s' if self.calibration_runs != 1 else ''}"
            text += (f", scaled ×{self.calibration:.1f}: what phase 1 of the last {runs} of this model and image "
                     "size took here, over its own timed estimate")
        else:
            text += ("; no run of this model and image size has finished here yet, and a real epoch costs more "
                     "than its timed steps (the first finished run calibrates later estimates)")
        text += ". Data loading and phases 2–3 come on top."
        if self.warn:
            text += " That is over 10 minutes: fewer epochs, a class cap or the small CNN make it shorter."
        return text


def cache_file() -> Path:
    """The disk cache of measured step times (under the engine's cache dir)."""
    return array_cache_dir() / "estimate" / "step_times.json"


def observed_file() -> Path:
    """Measured / estimated phase-1 ratios of finished runs (kept without expiry: a ratio, not a time)."""
    return cache_file().parent / "observed.json"


def _read_observed() -> dict[str, list[float]]:
    try:
        data = json.loads(observed_file().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: [float(r) for r in v if isinstance(r, (int, float)) and math.isfinite(r) and r > 0]
            for k, v in data.items() if isinstance(v, list)}


def _key(model: str, device: str, image_size: int, channels: int) -> str:
    return f"{model}|{device}|{int(image_size)}px|{int(channels)}ch"


def _read_disk() -> dict[str, dict[str, float]]:
    try:
        data = json.loads(cache_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_disk(key: str, entry: dict[str, float]) -> None:
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_disk() | {key: entry}
        atomic_write_bytes(path, json.dumps(data, indent=1).encode())
    except OSError as err:  # a read-only cache dir only costs a re-measurement next time
        _log.warning("The step-time cache %s cannot be written (%s); phase-1 estimates are measured again.",
                     path, err)


def _time_steps(model_name: str, device, *, channels: int, image_size: int, num_classes: int,
                batch_size: int, steps: int) -> float:
    """Seconds of the fastest of ``steps`` SGD steps after one warm-up step, on random data."""
    # deferred: torch loads in seconds; the app imports this module at start-up
    import torch

    from ._models import build_model

    model = build_model(model_name, in_channels=channels, num_classes=num_classes, image_size=image_size,
                        device=device).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, channels, image_size, image_size, generator=gen).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device)
    times: list[float] = []
    start = time.perf_counter()
    for i in range(steps + 1):  # step 0 warms up (allocations, kernel choice)
        if len(times) >= 1 and time.perf_counter() - start > TIME_BUDGET_S:
            break
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _time_eval(model_name: str, device, *, channels: int, image_size: int, num_classes: int,
               batch_size: int = 256, steps: int = 3) -> float:
    """Seconds per image of the median of ``steps`` inference batches after one warm-up batch."""
    # deferred: torch loads in seconds; the app imports this module at start-up
    import torch

    from ._models import build_model

    model = build_model(model_name, in_channels=channels, num_classes=num_classes, image_size=image_size,
                        device=device).to(device).eval()
    x = torch.rand(batch_size, channels, image_size, image_size, generator=torch.Generator().manual_seed(0))
    x = x.to(device)
    times: list[float] = []
    with torch.no_grad():
        for i in range(steps + 1):  # batch 0 warms up
            t0 = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
    return statistics.median(times) / batch_size


def seconds_per_image(model: str, *, device: str = "auto", channels: int, image_size: int, num_classes: int = 10,
                      batch_size: int = 128, steps: int = TIMED_STEPS,
                      use_cache: bool = True) -> tuple[float, float, str]:
    """``(seconds per training image, seconds per scored image, resolved model)`` for ``model`` on
    ``device``, measured or cached."""
    # deferred: these import torch (seconds); the app imports this module at start-up
    from ._device import choose_device
    from ._models import resolve_model

    dev = choose_device(device)
    name = resolve_model(model, device=dev, in_channels=channels, image_size=image_size)
    key = _key(name, dev.type, image_size, channels)
    with _lock:
        entry = _memory.get(key)
        if entry is None and use_cache:
            disk = _read_disk().get(key)
            if isinstance(disk, dict) and time.time() - float(disk.get("measured", 0)) < CACHE_MAX_AGE_S:
                entry = disk
        if not use_cache or not entry:
            step = _time_steps(name, dev, channels=channels, image_size=image_size, num_classes=num_classes,
                               batch_size=batch_size, steps=steps)
            per_eval = _time_eval(name, dev, channels=channels, image_size=image_size, num_classes=num_classes)
            entry = {"seconds_per_image": step / batch_size, "eval_seconds_per_image": per_eval,
                     "batch_size": batch_size,
                     "measured": time.time(), "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else -1}
            if use_cache:
                _write_disk(key, entry)
        _memory[key] = entry
    # an entry without an inference time (written before it was measured) counts a third of a step:
    # a forward pass without the backward
    per_eval = float(entry.get("eval_seconds_per_image", float(entry["seconds_per_image"]) / 3))
    return float(entry["seconds_per_image"]), per_eval, name


def _epoch_shape(cfg: TrainConfig, *, n_train: int, n_test: int) -> tuple[int, int, int]:
    """``(batch size, steps per epoch, images scored after each epoch)`` of phase 1 on these sizes."""
    bs = cfg.effective_batch_size(int(n_train))
    steps = max(1, math.ceil(int(n_train) / bs))
    scored = int(n_test) + (min(int(n_train), int(cfg.snapshot_size)) if cfg.gap_snapshots else 0)
    return bs, steps, scored


def _timed_seconds(cfg: TrainConfig, per_image: float, per_eval: float, *, n_train: int, n_test: int) -> float:
    """Phase 1's seconds from the timed steps alone: per epoch, the training steps and the scoring."""
    bs, steps, scored = _epoch_shape(cfg, n_train=n_train, n_test=n_test)
    return (per_image * bs * steps + per_eval * scored) * int(cfg.epochs)


def estimate_phase1(cfg: TrainConfig, *, n_train: int, channels: int, image_size: int, num_classes: int,
                    n_test: int = 0, use_cache: bool = True) -> Phase1Estimate:
    """Phase 1's expected seconds for ``cfg`` on ``n_train`` training and ``n_test`` test images of
    shape ``(channels, image_size, image_size)``: per epoch, the measured step time per image x steps x
    batch size, plus the inference time per image x (``n_test`` + the gap snapshot's training rows)."""
    from ._device import choose_device  # deferred: imports torch (seconds); the app imports this at start-up

    bs, steps, scored = _epoch_shape(cfg, n_train=n_train, n_test=n_test)
    per_image, per_eval, name = seconds_per_image(cfg.model, device=cfg.device, channels=channels,
                                                  image_size=image_size, num_classes=num_classes, batch_size=bs,
                                                  use_cache=use_cache)
    epoch_s = _timed_seconds(cfg, per_image, per_eval, n_train=n_train, n_test=n_test) / int(cfg.epochs)
    dev = choose_device(cfg.device).type
    ratios = _read_observed().get(_key(name, dev, image_size, channels), []) if use_cache else []
    calibration = statistics.median(ratios) if ratios else None
    return Phase1Estimate(model=name, device=dev, batch_size=bs,
                          seconds_per_image=per_image, steps_per_epoch=steps, eval_images_per_epoch=scored,
                          eval_seconds_per_image=per_eval, epochs=int(cfg.epochs),
                          seconds=epoch_s * int(cfg.epochs) * (calibration or 1.0), calibration=calibration,
                          calibration_runs=len(ratios))


def record_phase1(cfg: TrainConfig, seconds: float, *, n_train: int, channels: int, image_size: int,
                  num_classes: int, n_test: int) -> float | None:
    """After a finished phase 1: store ``seconds`` over its uncalibrated estimate (the step times
    cached for this model and shape; none are timed here, so a run never waits for this) and return
    that ratio, or None when no step time is cached for the shape or the cache cannot be written."""
    # deferred: these import torch (seconds); the app imports this module at start-up
    from ._device import choose_device
    from ._models import resolve_model

    dev = choose_device(cfg.device)
    name = resolve_model(cfg.model, device=dev, in_channels=channels, image_size=image_size)
    key = _key(name, dev.type, image_size, channels)
    with _lock:
        entry = _memory.get(key) or _read_disk().get(key)
        if not isinstance(entry, dict) or "seconds_per_image" not in entry:
            return None
        _memory[key] = entry
    per_eval = float(entry.get("eval_seconds_per_image", float(entry["seconds_per_image"]) / 3))
    timed = _timed_seconds(cfg, float(entry["seconds_per_image"]), per_eval, n_train=n_train, n_test=n_test)
    if not timed > 0 or not seconds > 0:
        return None
    ratio = float(seconds) / timed
    try:
        with _lock:
            data = _read_observed()
            data[key] = (data.get(key, []) + [round(ratio, 4)])[-OBSERVED_KEEP:]
            observed_file().parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(observed_file(), json.dumps(data, indent=1).encode())
    except OSError as err:  # a read-only cache only costs the calibration
        _log.warning("The phase-1 calibration %s cannot be written (%s); estimates stay uncalibrated.",
                     observed_file(), err)
        return None
    return ratio
