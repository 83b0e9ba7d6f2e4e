"""Typed progress events of the engine: phase 1, phase 3 and the run's map.

Every long step of the engine (``train_model``, ``train_head``, the pipeline, the map) reports
through one signature, :data:`Progress` = ``Callable[[Event], None]``. The CLI's progress bar and
the app's job panel decode these classes (``isinstance``); ``to_dict()`` gives the JSON form
(``{"phase": <kind>, ...fields}``) kept in job logs, and :func:`from_dict` reads it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "EpochStats", "Event", "Progress", "RunCreated", "SeedStarted", "RunDone", "DataLoading", "EpochDone",
    "Embedding", "MethodStarted", "HeadEpoch", "MapStarted", "MapDone", "MapFailed", "emit", "from_dict",
]


@dataclass
class EpochStats:
    """One phase-1 epoch: what :class:`EpochDone` carries and what ``history.json`` stores."""

    epoch: int
    epochs: int
    loss: float
    train_acc: float
    test_bacc: float
    seconds: float
    lr: float
    gap: dict[str, list[float | None]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Event:
    """Base class; ``kind`` is the ``"phase"`` value of the JSON form."""

    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class RunCreated(Event):
    """The store registered the run (phase 1 is about to train)."""

    kind: ClassVar[str] = "run"
    run_id: str


@dataclass(frozen=True)
class SeedStarted(Event):
    """A multi-seed job starts the run of ``seed`` (``index`` of ``total``, 0-based)."""

    kind: ClassVar[str] = "seed"
    seed: int
    index: int
    total: int


@dataclass(frozen=True)
class StudyRunStarted(Event):
    """Study ``study_id`` starts run ``index`` of ``total`` (0-based): ratio ``ratio``, seed ``seed``."""

    kind: ClassVar[str] = "study_run"
    study_id: str
    ratio: float
    seed: int
    index: int
    total: int


@dataclass(frozen=True)
class RunDone(Event):
    """Phases 1–3 of run ``run_id`` are finished and saved (its map may follow)."""

    kind: ClassVar[str] = "methods_done"
    run_id: str


@dataclass(frozen=True)
class DataLoading(Event):
    """Phase 1 loads and imbalances the dataset."""

    kind: ClassVar[str] = "data"


@dataclass(frozen=True)
class EpochDone(Event):
    """One CNN epoch of phase 1 finished; ``stats`` is what ``history.json`` stores."""

    kind: ClassVar[str] = "train"
    stats: EpochStats

    def to_dict(self) -> dict[str, Any]:  # flat, as history rows and the live charts read it
        return {"phase": self.kind, **self.stats.to_dict()}


@dataclass(frozen=True)
class Embedding(Event):
    """Phase 1 embeds the training and test sets."""

    kind: ClassVar[str] = "embed"


@dataclass(frozen=True)
class MethodStarted(Event):
    """Phases 2–3 start for oversampler ``name`` (``index`` of ``total``, 0-based)."""

    kind: ClassVar[str] = "method"
    name: str
    index: int
    total: int


@dataclass(frozen=True)
class HeadEpoch(Event):
    """One epoch of a phase-3 head finished (``epoch`` in 1..epochs, mean training ``loss``)."""

    kind: ClassVar[str] = "head"
    epoch: int
    epochs: int
    loss: float


@dataclass(frozen=True)
class MapStarted(Event):
    """The run's 2-D map is being fitted."""

    kind: ClassVar[str] = "map"


@dataclass(frozen=True)
class MapDone(Event):
    """The run's map is saved (``seconds`` of fitting)."""

    kind: ClassVar[str] = "map_done"
    seconds: float


@dataclass(frozen=True)
class MapFailed(Event):
    """The map could not be made (the run itself is complete; a later job can retry)."""

    kind: ClassVar[str] = "map_failed"
    detail: str


Progress = Callable[[Event], None]

_KINDS: dict[str, type[Event]] = {c.kind: c for c in (RunCreated, SeedStarted, RunDone, DataLoading, EpochDone,
                                                      Embedding, MethodStarted, HeadEpoch, MapStarted, MapDone,
                                                      MapFailed, StudyRunStarted)}


def emit(progress: Progress | None, event: Event) -> None:
    """Send ``event`` to ``progress`` when there is one."""
    if progress is not None:
        progress(event)


def from_dict(d: dict[str, Any]) -> Event | None:
    """The event of a ``to_dict()`` form (None for an unknown ``phase``, e.g. the app's own)."""
    cls = _KINDS.get(d.get("phase", ""))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    if cls is EpochDone:
        stat_names = {f.name for f in dataclasses.fields(EpochStats)}
        return EpochDone(EpochStats(**{k: v for k, v in d.items() if k in stat_names}))
    return cls(**{k: v for k, v in d.items() if k in names})
