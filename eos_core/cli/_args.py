"""The command line's arguments: the parser of every subcommand, and the configs they describe.

Every default comes from the config dataclasses (shared with the app); ``--preset NAME`` re-parses
with the preset's values as defaults, so explicit flags still win. Values argparse cannot judge
(``--seed`` beside ``--seeds``, a config one of the seeds would break) are refused here, before
any work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..config import LOSSES, METHODS, MODELS, PROFILES, SEED_MAX, DataConfig, HeadConfig, RunConfig, TrainConfig
from ..errors import ConfigError
from ..names import CONTROL_METHOD, DATASETS
from ..presets import PRESETS, preset_config

_DATA, _TRAIN, _HEAD, _RUN = DataConfig(), TrainConfig(), HeadConfig(), RunConfig()


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _methods(text: str) -> list[str]:
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {','.join(bad) or text!r}; choose from {','.join(METHODS)}")
    return names


def _seeds(text: str) -> list[int]:
    """``--seeds``: the seeds themselves (``3`` is seed 3, not three seeds), every one checked here,
    so a bad later seed is refused before the first run trains."""
    parts = [v.strip() for v in text.split(",")]
    if "" in parts:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers with no empty entry, got {text!r}")
    try:
        seeds = [int(v) for v in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    bad = [v for v in seeds if not 0 <= v <= SEED_MAX]
    if bad:
        raise argparse.ArgumentTypeError(f"seed {bad[0]} is out of range; seeds must be integers in [0, {SEED_MAX}]")
    twice = sorted({v for v in seeds if seeds.count(v) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"seeds must be distinct, got {text!r} (seed {twice[0]} twice)")
    return seeds


def _ratios(text: str) -> list[float]:
    try:
        ratios = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"ratios must be comma-separated numbers, got {text!r}") from None
    if not ratios or len(set(ratios)) != len(ratios):
        raise argparse.ArgumentTypeError(f"ratios must be distinct numbers, got {text!r}")
    return ratios


def _class_order(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"class order must be comma-separated integers, got {text!r}") from None


def _add_common(p: argparse.ArgumentParser, defaults: dict[str, Any] | None = None) -> None:
    p.add_argument("--preset", default=None, choices=tuple(PRESETS),
                   help="start from a named setting (`presets` lists them); explicit flags override it")
    p.add_argument("--dataset", default=_DATA.dataset, choices=DATASETS)
    p.add_argument("--folder", help="image folder with one sub-folder per class (for --dataset folder)")
    p.add_argument("--ratio", type=float, default=_DATA.ratio, help="imbalance ratio n_max/n_min, 1..1000")
    p.add_argument("--profile", default=_DATA.profile, choices=PROFILES)
    p.add_argument("--max-per-class", type=int, default=None, help="cap on the largest class")
    p.add_argument("--class-order", type=_class_order, default=None, help="class ids, largest first")
    p.add_argument("--model", default=_TRAIN.model, choices=MODELS,
                   help="auto: ResNet-32 on a GPU for colour images of 32 px or more, the small CNN on a CPU")
    p.add_argument("--loss", default=_TRAIN.loss, choices=LOSSES)
    p.add_argument("--epochs", type=int, default=_TRAIN.epochs)
    p.add_argument("--batch-size", type=int, default=_TRAIN.batch_size, help="default: 128, smaller for tiny sets")
    p.add_argument("--lr", type=float, default=_TRAIN.lr)
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", action="store_true", dest="augment", default=_TRAIN.augment,
                     help="shift/flip augmentation in phase 1 (default: the dataset's, off for digits)")
    aug.add_argument("--no-augment", action="store_false", dest="augment")
    p.add_argument("--no-gap-snapshots", action="store_true", help="skip the per-epoch gap snapshots")
    # default None, not 0: `run` must tell an explicit --seed from none to refuse it beside --seeds.
    p.add_argument("--seed", type=int, default=None,
                   help=f"one seed for data, phase 1 and phase 3 (default {_TRAIN.seed})")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--data-dir", default=None, help="data root (default: $EOS_DATA_DIR or a per-user cache)")
    p.add_argument("--runs-dir", default=None, help="runs folder (default: $EOS_RUNS_DIR or a per-user folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    if defaults:
        p.set_defaults(**defaults)


def _add_phases23(p: argparse.ArgumentParser) -> None:
    """The flags of phases 2-3 and of several seeds (``run`` and ``study``)."""
    p.add_argument("--methods", type=_methods, default=list(_RUN.methods),
                   help=f"comma-separated; {CONTROL_METHOD} (the control) is always added")
    p.add_argument("--seeds", type=_seeds, default=None,
                   help="comma-separated seeds, e.g. 0,1,2 (3 alone is seed 3): one whole run per seed, "
                        "paired differences over seeds")
    p.add_argument("--k", type=int, default=_RUN.k_neighbors, dest="k_neighbors",
                   help="neighbours for the oversamplers")
    p.add_argument("--head-epochs", type=int, default=_HEAD.epochs)
    p.add_argument("--head-from-phase1", action="store_true", help="start the new head from the phase-1 head")


def build_parser(defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; ``defaults`` (a preset's values by argument name) replace the configs' defaults."""
    parser = _Parser(prog="python -m eos_core", description="EOS Explorer engine.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="phase 1: train the CNN on imbalanced data")
    _add_common(train, defaults)
    run = sub.add_parser("run", help="phases 1-3: train, oversample embeddings, re-train the head")
    _add_common(run, defaults)
    _add_phases23(run)
    run.add_argument("--no-map", action="store_false", dest="map", help="skip the run's 2-D UMAP map")
    study = sub.add_parser("study", help="a ratio study: one config at several ratios (and seeds), summarised")
    _add_common(study, defaults)  # a --preset added to the common flags applies to a study's base config too
    study.add_argument("--ratios", type=_ratios, required=True, help="comma-separated imbalance ratios, e.g. 1,10,100")
    _add_phases23(study)
    study.add_argument("--map", action="store_true", help="also fit each run's 2-D UMAP map (off: made on demand)")
    lst = sub.add_parser("list", help="list saved runs")
    lst.add_argument("--runs-dir", default=None)
    lst.add_argument("--json", action="store_true")
    pre = sub.add_parser("presets", help="list the presets (one line each); with a name, its settings and results")
    pre.add_argument("name", nargs="?", choices=tuple(PRESETS), help="show this preset in full")
    pre.add_argument("--folder", default=None, help="image folder with train/ and test/ (for cifar10-lt)")
    pre.add_argument("--data-dir", default=None)
    rep = sub.add_parser("repair", help="check the run store; rebuild its index from the run folders if needed")
    rep.add_argument("--runs-dir", default=None)
    return parser


def config_from_args(args: argparse.Namespace, seed: int | None = None) -> RunConfig:
    """The RunConfig an argument namespace describes; ``seed`` (default ``--seed``) drives data,
    phase 1 and phase 3 alike (:meth:`RunConfig.with_seed`)."""
    data = DataConfig(dataset=args.dataset, ratio=args.ratio, profile=args.profile, max_per_class=args.max_per_class,
                      class_order=args.class_order, folder=args.folder)
    train = TrainConfig(model=args.model, loss=args.loss, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        augment=args.augment, device=args.device, gap_snapshots=not args.no_gap_snapshots)
    head = HeadConfig(epochs=getattr(args, "head_epochs", _HEAD.epochs),
                      init_from_phase1=getattr(args, "head_from_phase1", False))
    cfg = RunConfig(data=data, train=train, head=head, methods=getattr(args, "methods", list(METHODS)),
                    k_neighbors=getattr(args, "k_neighbors", _RUN.k_neighbors))
    if seed is None:
        seed = args.seed if args.seed is not None else _TRAIN.seed
    cfg = cfg.with_seed(seed)
    cfg.validate()
    return cfg


def check_args(args: argparse.Namespace) -> None:
    """Refuse what argparse cannot see, before any work: ``--seed`` beside ``--seeds``, and a config
    that would fail for one of the seeds (every seed's config is built and validated here)."""
    seeds = getattr(args, "seeds", None)
    if seeds is not None and args.seed is not None:
        raise ConfigError(f"--seed {args.seed} cannot be combined with --seeds, which lists every seed to run "
                          f"(--seeds {seeds[0]} runs seed {seeds[0]} only); put the seeds in --seeds.")
    for seed in seeds or [None]:
        config_from_args(args, seed)


def drop_duplicate_methods(args: argparse.Namespace) -> None:
    """Keep the first of each repeated ``--methods`` entry, with a note on stderr (the pipeline
    would run a method once anyway, but the user should not wonder where the second went)."""
    methods = getattr(args, "methods", None)
    if not methods:
        return
    unique = list(dict.fromkeys(methods))
    twice = [m for m in unique if methods.count(m) > 1]
    if twice:
        sys.stderr.write(f"note: --methods lists {', '.join(twice)} more than once; "
                         f"the duplicate{'s were' if len(twice) > 1 else ' was'} dropped.\n")
    args.methods = unique


def apply_preset(args: argparse.Namespace, argv: Sequence[str] | None) -> argparse.Namespace:
    """``args`` re-parsed with ``--preset``'s values as defaults, so explicit flags override them."""
    if not getattr(args, "preset", None):
        return args
    cfg = preset_config(args.preset, data_dir=args.data_dir, folder=args.folder)
    d, t = cfg.data, cfg.train
    defaults = {"dataset": d.dataset, "folder": d.folder, "ratio": d.ratio, "profile": d.profile,
                "max_per_class": d.max_per_class, "class_order": d.class_order, "model": t.model, "loss": t.loss,
                "epochs": t.epochs, "batch_size": t.batch_size, "lr": t.lr, "augment": t.augment,
                "head_epochs": cfg.head.epochs, "methods": list(cfg.methods), "k_neighbors": cfg.k_neighbors}
    if args.command == "train":  # train has no phase-3 arguments
        for key in ("head_epochs", "methods", "k_neighbors"):
            defaults.pop(key)
    return build_parser(defaults).parse_args(argv)
