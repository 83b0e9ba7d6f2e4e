"""Dataclass configs, saved as JSON with every artifact.

Each config validates itself (``validate()`` raises :class:`~eos_core.errors.ConfigError` with one
clear sentence) and round-trips through ``to_dict`` / ``from_dict`` so a saved run can always be
re-created exactly.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ConfigError
from .names import LOSSES, METHODS, MODELS, PROFILES

# Re-exported: the CLI, the app and older code import these ids from here.
__all__ = ["LOSSES", "METHODS", "MODELS", "PROFILES", "SEED_MAX", "DataConfig", "HeadConfig", "RunConfig",
           "TrainConfig", "check_seed"]

T = TypeVar("T")

# Datasets trained without augmentation when ``TrainConfig.augment`` is None (the default): on 8x8
# digits a one-pixel shift moves an eighth of the image, and with it the 2-3 images of the smallest
# classes were not fitted after 30 epochs (train recall 0) -- the paper's phase 1 fits every class.
NO_AUGMENT_BY_DEFAULT: tuple[str, ...] = ("digits",)


# numbers.Integral / Real: numpy scalars from the app count as numbers too.
_TYPES: dict[str, tuple[type, ...]] = {"None": (type(None),), "str": (str,), "int": (numbers.Integral,),
                                       "float": (numbers.Real,), "bool": (bool,), "list": (list, tuple),
                                       "tuple": (list, tuple)}
SEED_MAX = 2**32 - 1  # numpy's and torch's seed range
DEVICES = ("auto", "cpu", "cuda", "mps")


def _from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """``cls(**d)`` for the known keys of ``d``, after checking each value's JSON type (ConfigError)."""
    if not isinstance(d, dict):
        raise ConfigError(f"A {cls.__name__} must be a JSON object (a dict), got {type(d).__name__}.")
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {k: v for k, v in d.items() if k in fields}
    for key, value in kwargs.items():
        kinds = [k.strip().split("[")[0] for k in fields[key].split("|")]
        if value is None and "None" in kinds:
            continue
        ok = tuple(t for k in kinds for t in _TYPES.get(k, (object,)))
        if not isinstance(value, ok) or (isinstance(value, bool) and bool not in ok):
            raise ConfigError(f"{cls.__name__}.{key} must be {fields[key]}, got {type(value).__name__} {value!r}.")
    return cls(**kwargs)


def _check_number(label: str, value: Any, lo: float, hi: float, *, integer: bool = False,
                  lo_open: bool = False, hi_open: bool = False) -> None:
    """Raise ConfigError unless ``value`` is a finite number (an int if ``integer``) in the range."""
    is_num = isinstance(value, numbers.Integral if integer else numbers.Real)
    if isinstance(value, bool) or not is_num or not math.isfinite(value) or value < lo or value > hi \
            or (lo_open and value == lo) or (hi_open and value == hi):
        kind = "an integer" if integer else "a number"
        left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
        # Integer bounds in full: ":g" would print the seed limit as 4.29497e+09.
        lo_s, hi_s = (f"{int(lo)}", f"{int(hi)}") if integer else (f"{lo:g}", f"{hi:g}")
        raise ConfigError(f"{label} must be {kind} in {left}{lo_s}, {hi_s}{right}, got {value!r}.")


def check_seed(seed: Any, label: str = "The seed") -> int:
    """``seed`` as an int, or :class:`ConfigError` unless it is an integer in [0, SEED_MAX].

    Strings and floats are refused rather than converted: ``int("7")`` or ``int(7.9)`` would
    silently run a seed the user did not ask for.
    """
    _check_number(label, seed, 0, SEED_MAX, integer=True)
    return int(seed)


def _check_choice(label: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"Unknown {label} {value!r}; choose one of {', '.join(choices)}.")


def _check_bool(label: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{label} must be true or false, got {value!r}.")


@dataclass
class DataConfig:
    """Which data, and how the training set is made imbalanced.

    ``ratio`` is rho = n_max / n_min (1 to 1000). ``max_per_class`` caps n_max so a demo on a large
    dataset stays small. ``class_order`` lists class ids from the largest to the smallest class.
    ``display_name`` is what pages call a user's image set (e.g. "cifar10-jpeg (zip)" from the
    uploaded file's name); a label only, never opened as a path.
    """

    dataset: str = "digits"
    ratio: float = 50.0
    profile: str = "exp"
    max_per_class: int | None = None
    class_order: list[int] | None = None
    folder: str | None = None
    seed: int = 0
    display_name: str | None = None

    def validate(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError(f"The dataset must be a name, got {self.dataset!r}.")
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, numbers.Real) \
                or not (1.0 <= float(self.ratio) <= 1000.0):
            raise ConfigError(f"Imbalance ratio must be between 1 and 1000, got {self.ratio!r}.")
        _check_choice("imbalance profile", self.profile, PROFILES)
        if self.max_per_class is not None and (isinstance(self.max_per_class, bool)
                                               or not isinstance(self.max_per_class, numbers.Integral)
                                               or self.max_per_class < 1):
            raise ConfigError(f"The class cap must be at least 1, got {self.max_per_class!r}.")
        if self.class_order is not None and (not isinstance(self.class_order, (list, tuple)) or not all(
                isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 0 for c in self.class_order)):
            raise ConfigError(f"The class order must be a list of class ids (integers >= 0), got {self.class_order!r}.")
        if self.folder is not None and not isinstance(self.folder, str):
            raise ConfigError(f"The image folder must be a path, got {self.folder!r}.")
        _check_number("The seed", self.seed, 0, SEED_MAX, integer=True)
        if self.display_name is not None and (not isinstance(self.display_name, str) or len(self.display_name) > 100):
            raise ConfigError(f"The dataset's display name must be text of at most 100 characters, got "
                              f"{str(self.display_name)[:40]!r}.")

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
        _check_choice("model", self.model, MODELS)
        _check_choice("loss", self.loss, LOSSES)
        _check_number("Epochs", self.epochs, 1, 1000, integer=True)
        if self.batch_size is not None:
            # BatchNorm cannot train on a batch of one sample.
            _check_number("Batch size", self.batch_size, 2, 65536, integer=True)
        _check_number("Learning rate", self.lr, 0, 10, lo_open=True)
        _check_number("Momentum", self.momentum, 0, 1, hi_open=True)
        _check_number("Weight decay", self.weight_decay, 0, 1)
        _check_number("The warm-up fraction", self.warmup_frac, 0, 1)
        if not isinstance(self.decay_at, (list, tuple)) or len(self.decay_at) != 2:
            raise ConfigError(f"decay_at must be two fractions of the epochs, got {self.decay_at!r}.")
        for v in self.decay_at:
            _check_number("A decay point", v, 0, 1)
        if self.decay_at[0] > self.decay_at[1]:
            raise ConfigError(f"decay_at must be in increasing order, got {self.decay_at!r}.")
        _check_number("The DRW fraction", self.drw_frac, 0, 1)
        _check_number("Focal gamma", self.focal_gamma, 0, 10)
        if self.augment is not None:  # None: the dataset's default (RunConfig.augment_enabled)
            _check_bool("augment", self.augment)
        _check_choice("device", self.device, DEVICES)
        _check_number("The seed", self.seed, 0, SEED_MAX, integer=True)
        _check_bool("gap_snapshots", self.gap_snapshots)
        _check_number("The snapshot size", self.snapshot_size, 1, 1_000_000, integer=True)

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
        _check_number("Head epochs", self.epochs, 1, 1000, integer=True)
        _check_number("Head batch size", self.batch_size, 1, 65536, integer=True)
        _check_number("Head learning rate", self.lr, 0, 10, lo_open=True)
        _check_number("Head momentum", self.momentum, 0, 1, hi_open=True)
        _check_number("Head weight decay", self.weight_decay, 0, 1)
        _check_number("Head warm-up epochs", self.warmup_epochs, 0, 1000, integer=True)
        _check_bool("init_from_phase1", self.init_from_phase1)
        _check_number("The head seed", self.seed, 0, SEED_MAX, integer=True)

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
        if not isinstance(self.methods, (list, tuple)):
            raise ConfigError(f"methods must be a list of method ids, got {self.methods!r}.")
        unknown = [str(m) for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
        _check_number("k_neighbors", self.k_neighbors, 1, 1000, integer=True)

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
        s = check_seed(seed)
        return dataclasses.replace(self, data=dataclasses.replace(self.data, seed=s),
                                   train=dataclasses.replace(self.train, seed=s),
                                   head=dataclasses.replace(self.head, seed=s), methods=list(self.methods))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"A RunConfig must be a JSON object (a dict), got {type(d).__name__}.")
        methods, k = d.get("methods", METHODS), d.get("k_neighbors", 10)
        if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
            raise ConfigError(f"RunConfig.methods must be a list of method ids, got {methods!r}.")
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise ConfigError(f"RunConfig.k_neighbors must be an integer, got {k!r}.")
        return cls(
            data=DataConfig.from_dict(d.get("data", {})),
            train=TrainConfig.from_dict(d.get("train", {})),
            head=HeadConfig.from_dict(d.get("head", {})),
            methods=list(methods),
            k_neighbors=k,
        )
