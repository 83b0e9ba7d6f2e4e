"""Dataclass configs, saved as JSON with every artifact.

Each config validates itself (``validate()`` raises :class:`~eos_core.errors.ConfigError` with one
clear sentence) and round-trips through ``to_dict`` / ``from_dict`` so a saved run can always be
re-created exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ConfigError
from .names import LOSSES, METHODS, MODELS, PROFILES

# Re-exported: the CLI, the app and older code import these ids from here.
__all__ = ["LOSSES", "METHODS", "MODELS", "PROFILES", "DataConfig", "HeadConfig", "RunConfig", "TrainConfig"]

T = TypeVar("T")

# Datasets trained without augmentation when ``TrainConfig.augment`` is None (the default): on 8x8
# digits a one-pixel shift moves an eighth of the image, and with it the 2-3 images of the smallest
# classes were not fitted after 30 epochs (train recall 0) -- the paper's phase 1 fits every class.
NO_AUGMENT_BY_DEFAULT: tuple[str, ...] = ("digits",)


def _from_dict(cls: type[T], d: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class DataConfig:
    """Which data, and how the training set is made imbalanced.

    ``ratio`` is rho = n_max / n_min (1 to 1000). ``max_per_class`` caps n_max so a demo on a large
    dataset stays small. ``class_order`` lists class ids from the largest to the smallest class.
    """

    dataset: str = "digits"
    ratio: float = 50.0
    profile: str = "exp"
    max_per_class: int | None = None
    class_order: list[int] | None = None
    folder: str | None = None
    seed: int = 0

    def validate(self) -> None:
        if not isinstance(self.ratio, (int, float)) or not (1.0 <= float(self.ratio) <= 1000.0):
            raise ConfigError(f"Imbalance ratio must be between 1 and 1000, got {self.ratio!r}.")
        if self.profile not in PROFILES:
            raise ConfigError(f"Unknown imbalance profile {self.profile!r}; choose one of {', '.join(PROFILES)}.")
        if self.max_per_class is not None and int(self.max_per_class) < 1:
            raise ConfigError(f"The class cap must be at least 1, got {self.max_per_class!r}.")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataConfig:
        return _from_dict(cls, d)


@dataclass
class TrainConfig:
    """Phase 1: end-to-end CNN training (the paper's recipe, scaled to the epoch count).

    The paper trains 200 epochs with lr 0.1, 5 warm-up epochs and a step decay at epochs 160 and 180;
    here warm-up and decay points are fractions of ``epochs`` so short runs keep the shape.
    ``batch_size=None`` means the paper's 128, reduced for tiny training sets so that an epoch has
    at least 16 steps (on 8x8 digits a 128 batch would give 3 steps an epoch and an untrained net).

    The defaults are the ones the CLI and the app start from; they are chosen so that phase 1
    *memorises* its training set, as the paper's does: the default digits run (rho=50) reaches train
    recall >= 0.95 in every class (measured on the training set only, seeds 0-4). ``augment=None``
    means the dataset's default: off for :data:`NO_AUGMENT_BY_DEFAULT`, on elsewhere
    (:meth:`RunConfig.augment_enabled`).
    """

    model: str = "auto"
    loss: str = "ce"
    epochs: int = 30
    batch_size: int | None = None
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    warmup_frac: float = 0.025
    decay_at: tuple[float, float] = (0.8, 0.9)
    drw_frac: float = 0.8
    focal_gamma: float = 2.0
    augment: bool | None = None
    device: str = "auto"
    seed: int = 0
    gap_snapshots: bool = True
    snapshot_size: int = 1000

    def validate(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"Unknown model {self.model!r}; choose one of {', '.join(MODELS)}.")
        if self.loss not in LOSSES:
            raise ConfigError(f"Unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")
        if not (1 <= int(self.epochs) <= 1000):
            raise ConfigError(f"Epochs must be between 1 and 1000, got {self.epochs!r}.")
        if self.batch_size is not None and int(self.batch_size) < 2:
            # BatchNorm cannot train on a batch of one sample.
            raise ConfigError(f"Batch size must be at least 2, got {self.batch_size!r}.")
        if not (float(self.lr) > 0):
            raise ConfigError(f"Learning rate must be positive, got {self.lr!r}.")

    def effective_batch_size(self, n_train: int) -> int:
        """The batch size used for ``n_train`` training images."""
        if self.batch_size is not None:
            return max(1, min(int(self.batch_size), n_train))
        size = 128
        while size > 16 and n_train / size < 16:
            size //= 2
        return max(1, min(size, n_train))

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        obj = _from_dict(cls, d)
        obj.decay_at = tuple(obj.decay_at)  # JSON turns tuples into lists
        return obj


@dataclass
class HeadConfig:
    """Phase 3: re-train only the linear head on (balanced) embeddings — the paper's recipe."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    warmup_epochs: int = 1
    init_from_phase1: bool = False
    seed: int = 0

    def validate(self) -> None:
        if not (1 <= int(self.epochs) <= 1000):
            raise ConfigError(f"Head epochs must be between 1 and 1000, got {self.epochs!r}.")
        if not (float(self.lr) > 0):
            raise ConfigError(f"Head learning rate must be positive, got {self.lr!r}.")

    to_dict = dataclasses.asdict

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadConfig:
        return _from_dict(cls, d)


@dataclass
class RunConfig:
    """A whole experiment: data, phase 1, and phases 2–3 for each oversampler."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    k_neighbors: int = 10

    def validate(self) -> None:
        self.data.validate()
        self.train.validate()
        self.head.validate()
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
        if int(self.k_neighbors) < 1:
            raise ConfigError(f"k_neighbors must be at least 1, got {self.k_neighbors!r}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def augment_enabled(self) -> bool:
        """Whether phase 1 augments its batches (``train.augment``, or the dataset's default)."""
        if self.train.augment is not None:
            return bool(self.train.augment)
        return self.data.dataset not in NO_AUGMENT_BY_DEFAULT

    @property
    def seed(self) -> int:
        """The run's seed (``train.seed``; :meth:`with_seed` keeps data, train and head equal)."""
        return int(self.train.seed)

    def with_seed(self, seed: int) -> RunConfig:
        """A copy whose one seed drives everything random in the run.

        ``data.seed`` (which images the imbalance keeps), ``train.seed`` (phase-1 initialisation,
        shuffling, augmentation) and ``head.seed`` (phase 2 draws and phase-3 head initialisation
        and shuffling, identical for every method of the run) all become ``seed``. The CLI and the
        app build every config through this.
        """
        s = int(seed)
        return dataclasses.replace(self, data=dataclasses.replace(self.data, seed=s),
                                   train=dataclasses.replace(self.train, seed=s),
                                   head=dataclasses.replace(self.head, seed=s), methods=list(self.methods))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(
            data=DataConfig.from_dict(d.get("data", {})),
            train=TrainConfig.from_dict(d.get("train", {})),
            head=HeadConfig.from_dict(d.get("head", {})),
            methods=list(d.get("methods", METHODS)),
            k_neighbors=int(d.get("k_neighbors", 10)),
        )
