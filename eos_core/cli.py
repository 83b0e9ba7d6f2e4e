"""Command line: ``python -m eos_core train|run|study|list|repair``.

``train`` runs phase 1 and prints a per-class table; ``run`` runs phases 1–3 for every requested
oversampler and prints a method x metric table with each method's paired difference from ``crt``.
``run --seeds 0,1,2`` runs the whole pipeline once per seed (one saved run each) and prints, per
method, the mean and 95 % t-interval of that paired difference over the seeds. ``--json`` prints
one JSON object instead. Every run is saved in the run store. ``repair`` checks the store and
rebuilds its index from the run folders. Bad arguments and every other user error exit with
status 2 and a one-line message; Ctrl-C and SIGTERM record the run ``cancelled`` and exit with
130. Every default comes from the config dataclasses (shared with the app).

``study --ratios 1,10,100`` runs one config at each ratio (and seed) and prints the gap and the
paired differences per ratio (:mod:`eos_core.study`).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .cli_output import (
    phase1_json,
    print_gap,
    print_phase1,
    print_presets,
    print_seeds,
    print_study,
    print_verdict,
    run_json,
    signed,
    study_json,
    table,
    verdict_json,
)
from .cli_stop import Interrupted, finished_runs
from .config import LOSSES, METHODS, MODELS, PROFILES, SEED_MAX, DataConfig, HeadConfig, RunConfig, TrainConfig
from .errors import ConfigError, EOSError
from .events import DataLoading, EpochDone, Event, MapStarted, MethodStarted, RunCreated
from .names import CONTROL_METHOD, method_name
from .presets import PRESETS

_DATA, _TRAIN, _HEAD, _RUN = DataConfig(), TrainConfig(), HeadConfig(), RunConfig()

DATASET_CHOICES = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn", "folder")


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
    p.add_argument("--dataset", default=_DATA.dataset, choices=DATASET_CHOICES)
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
    from .presets import preset_config

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


# --------------------------------------------------------------------------- output

class _Bar:
    """A tqdm progress bar on stderr fed by pipeline progress events."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.bar = None
        self.run_id: str | None = None  # the run the store created, named if the user cancels

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, RunCreated):
            self.run_id = ev.run_id
        if not self.enabled or isinstance(ev, (DataLoading, RunCreated)):
            return  # the bar opens with training, so an error while loading data prints one line only
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc="phase 1", unit="epoch", file=sys.stderr, dynamic_ncols=True)
        if isinstance(ev, EpochDone):
            self.bar.set_postfix(loss=f"{ev.stats.loss:.3f}", bacc=f"{ev.stats.test_bacc:.3f}")
            self.bar.update(1)
        elif isinstance(ev, MethodStarted):
            self.bar.set_description(f"phase 2-3: {ev.name} ({ev.index + 1}/{ev.total})")
        elif isinstance(ev, MapStarted):
            self.bar.set_description("map (UMAP)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- commands

def _with_bar(fn, args: argparse.Namespace, store, seed: int | None = None, **kwargs: Any):
    """Run ``fn`` (run_phase1 or run_pipeline) for the arguments' config with a progress bar."""
    cfg = config_from_args(args, seed)
    bar = _Bar(cfg.train.epochs, not args.json)
    try:
        return fn(cfg, store=store, data_dir=args.data_dir, progress=bar, **kwargs)
    except Interrupted:
        raise
    except KeyboardInterrupt as err:
        # A real Ctrl-C carries no text; SIGTERM's handler gives its own reason.
        raise Interrupted(str(err) or "cancelled (Ctrl-C)", bar.run_id) from None
    finally:
        bar.close()


def _cmd_train(args: argparse.Namespace, store) -> int:
    from .pipeline import run_phase1

    p1 = _with_bar(run_phase1, args, store)
    if args.json:
        print(json.dumps(phase1_json(p1)))
    else:
        print_phase1(p1)
        print()
        print_gap(p1.gap)
    return 0


def _cmd_run(args: argparse.Namespace, store) -> int:
    from .compare import aggregate
    from .pipeline import run_pipeline

    seeds = args.seeds if args.seeds is not None else [None]
    results = []
    for seed in seeds:
        try:
            results.append(_with_bar(run_pipeline, args, store, seed, with_map=args.map))
        except Interrupted as err:
            # Earlier seeds' runs are saved and finished: say so, or the user would not know.
            raise Interrupted(err.reason, err.run_id, finished_runs(seeds, results)) from None
        except EOSError:
            if results:
                sys.stderr.write(f"note: finished before the error: {', '.join(finished_runs(seeds, results))}.\n")
            raise
    if args.seeds is not None:
        runs = [run_json(r) for r in results]
        agg = aggregate([r["methods"] for r in runs])
        if args.json:
            print(json.dumps({"seeds": seeds, "runs": runs, "aggregate": agg, "verdict": verdict_json(runs)}))
        else:
            print_seeds(runs, agg)
            print()
            print_verdict(verdict_json(runs))
        return 0
    res = results[0]
    out = run_json(res)
    if args.json:
        print(json.dumps(out | {"verdict": verdict_json([out])}))
        return 0
    methods = out["methods"]
    print_phase1(res.phase1)
    print()
    best = max(methods, key=lambda n: methods[n]["balanced_accuracy"])
    rows = [(method_name(name) + (" *" if name == best else ""), m["balanced_accuracy"], m["g_mean"], m["macro_f1"],
             *(signed((m["delta_vs_crt"] or {}).get(k)) for k in ("balanced_accuracy", "g_mean", "macro_f1")),
             m["n_synthetic"], m["seconds"]) for name, m in methods.items()]
    print(table(["method", "bal. acc", "g-mean", "macro-F1", "Δ bal. acc", "Δ g-mean", "Δ macro-F1", "synthetic",
                  "seconds"], rows))
    print(f"Δ: paired difference from {method_name(CONTROL_METHOD)}. * best balanced accuracy on the test set "
          "(a reading, not a model selection).")
    print()
    print_gap(res.gap)
    print()
    print_verdict(verdict_json([out]))
    return 0


def _cmd_study(args: argparse.Namespace, store) -> int:
    from .study import StudyConfig, run_study

    cfg = StudyConfig(base=config_from_args(args), ratios=args.ratios,
                      seeds=args.seeds if args.seeds is not None else [args.seed], with_map=args.map)
    bar = _StudyBar(cfg.base.train.epochs, not args.json)
    try:
        res = run_study(cfg, store=store, data_dir=args.data_dir, progress=bar)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(study_json(res)))
    else:
        print_study(res.record)
    return 0


class _StudyBar(_Bar):
    """The run bar, restarted for every run of the study with its ρ and seed."""

    def __call__(self, ev: Event) -> None:
        from .study import StudyRunStarted

        if isinstance(ev, StudyRunStarted):
            self.close()
            self.bar = None
            if self.enabled:
                sys.stderr.write(f"run {ev.index + 1}/{ev.total}: ρ={ev.ratio:g}, seed {ev.seed}\n")
            return
        super().__call__(ev)


def _distributed_worker(args: argparse.Namespace) -> bool:
    """Under ``torchrun``: join the job; on ranks > 0 run phase 1's share without a store and return True.

    With ``run --seeds`` rank 0 trains one phase 1 per seed, so every other rank does too, in the
    same order (one phase 1 only would leave rank 0 waiting for it at the second seed).
    """
    from .distributed import init_from_env

    ctx = init_from_env(args.device)
    if ctx is None or ctx.is_main:
        return False
    from .pipeline import run_phase1

    for seed in getattr(args, "seeds", None) or [None]:
        run_phase1(config_from_args(args, seed), data_dir=args.data_dir)
    return True


def _cmd_list(args: argparse.Namespace, store) -> int:
    runs = store.list_runs()
    if args.json:  # a damaged run is listed with status "damaged" and the sentence saying why
        print(json.dumps([{"run_id": r.id, "status": r.status, "created": r.created, "config": r.config,
                           "metrics": r.metrics} for r in runs]
                         + [{"run_id": rid, "status": "damaged", "message": why} for rid, why in store.damaged]))
        return 0
    import time

    rows = [(r.id, r.status, r.config.get("data", {}).get("dataset"), r.config.get("data", {}).get("ratio"),
             (r.metrics.get("phase1") or {}).get("balanced_accuracy"),
             time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)))
            for r in runs] + [(rid, "damaged", None, None, None, None) for rid, _ in store.damaged]
    print(table(["run", "status", "dataset", "ratio", "phase-1 bacc", "created"], rows) if rows else "No runs yet.")
    return 0


def _cmd_repair(args: argparse.Namespace, store) -> int:
    from .repair import repair

    for line in repair(store).lines():
        print(line)
    return 0


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM ends the run like Ctrl-C: the pipeline records it "cancelled" and the CLI exits cleanly.
    raise KeyboardInterrupt("cancelled: the process received SIGTERM")


def _dispatch(args: argparse.Namespace) -> int:
    from .store import RunStore

    if args.command == "presets":
        return print_presets(args)
    if args.command in ("train", "run", "study"):
        check_args(args)  # bad values (for every seed) fail here, before torch is imported or a run saved
        drop_duplicate_methods(args)
        from .device import configure_threads

        configure_threads()
        # a torchrun rank > 0 trained its share; rank 0 saves and prints (a study runs on one process)
        if args.command != "study" and _distributed_worker(args):
            return 0
    if args.command == "repair":
        from pathlib import Path

        from .errors import StoreUnavailable
        from .store import default_runs_dir

        root = Path(args.runs_dir).expanduser() if args.runs_dir else default_runs_dir()
        if not root.is_dir():  # repair heals a store; it never creates one
            raise StoreUnavailable(f"The runs folder {root} does not exist, so there is nothing to repair.")
    store = RunStore(args.runs_dir)  # a bad --runs-dir fails here, before any data is loaded
    commands = {"train": _cmd_train, "run": _cmd_run, "list": _cmd_list, "repair": _cmd_repair,
                "study": _cmd_study}
    code = commands[args.command](args, store)
    for _, why in store.damaged[:20]:  # each damaged run in one sentence naming it and the repair command
        sys.stderr.write(f"warning: {why}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error ends in one line on stderr and a non-zero exit, never a traceback.

    Exit codes: 0 ok, 2 a user error (``EOSError``, bad arguments), 130 cancelled (Ctrl-C / SIGTERM),
    1 an unexpected error (``EOS_DEBUG=1`` re-raises it with its traceback).
    """
    import os
    import signal

    # Before torch (and its OpenMP runtime) loads: idle OpenMP threads sleep instead of spinning.
    # With spinning, a default (2-thread) digits run took 280 s on this 2-core box while other jobs
    # ran (load 4), against 28 s passive and 24 s on 1 thread; an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (main() called from a worker): keep the default
        pass
    try:
        return _dispatch(apply_preset(args, argv))
    except EOSError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    except Interrupted as err:
        sys.stderr.write(f"error: {err.sentence()}\n")
        return 130
    except KeyboardInterrupt as err:  # outside a training command (list, repair, start-up): nothing to record
        sys.stderr.write(f"error: {str(err) or 'cancelled (Ctrl-C)'}.\n")
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if os.environ.get("EOS_DEBUG"):
            raise
        from .store import disk_error

        mapped = disk_error(err, os.getcwd()) if isinstance(err, OSError) else err
        if isinstance(mapped, EOSError):
            sys.stderr.write(f"error: {mapped}\n")
            return 2
        text = (str(err).splitlines() or [""])[0][:300]
        sys.stderr.write(f"error: unexpected {type(err).__name__}: {text} (set EOS_DEBUG=1 to see where).\n")
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
