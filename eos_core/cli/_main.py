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
import os
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import EOSError, StoreUnavailable
from ..evaluation._compare import aggregate
from ..events import DataLoading, EpochDone, Event, MapStarted, MethodStarted, RunCreated, StudyRunStarted
from ..names import CONTROL_METHOD, HEADLINE, method_name
from ..store._atomic import disk_error
from ..store._repair import repair
from ..store._store import RunStore, default_runs_dir
from ..study import StudyConfig, run_study
from ._args import apply_preset, build_parser, check_args, config_from_args, drop_duplicate_methods  # noqa: F401 (re-exported: the CLI's API)
from ._output import (
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
from ._stop import Interrupted, finished_runs

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
    from ..pipeline import run_phase1  # deferred: imports torch (seconds); list, repair and --help need none

    p1 = _with_bar(run_phase1, args, store)
    if args.json:
        print(json.dumps(phase1_json(p1)))
    else:
        print_phase1(p1)
        print()
        print_gap(p1.gap)
    return 0


def _cmd_run(args: argparse.Namespace, store) -> int:
    from ..pipeline import run_pipeline  # deferred: imports torch (seconds); list, repair and --help need none

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
             *(signed((m["delta_vs_crt"] or {}).get(k)) for k in HEADLINE),
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
    base = config_from_args(args)
    cfg = StudyConfig(base=base, ratios=args.ratios, seeds=args.seeds if args.seeds is not None else [base.seed],
                      with_map=args.map)
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
    from ..phase1._distributed import init_from_env  # deferred: imports torch (seconds), after OMP_WAIT_POLICY

    ctx = init_from_env(args.device)
    if ctx is None or ctx.is_main:
        return False
    from ..pipeline import run_phase1  # deferred: imports torch (seconds); list, repair and --help need none

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
    rows = [(r.id, r.status, r.config.get("data", {}).get("dataset"), r.config.get("data", {}).get("ratio"),
             (r.metrics.get("phase1") or {}).get("balanced_accuracy"),
             time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)))
            for r in runs] + [(rid, "damaged", None, None, None, None) for rid, _ in store.damaged]
    print(table(["run", "status", "dataset", "ratio", "phase-1 bacc", "created"], rows) if rows else "No runs yet.")
    return 0


def _cmd_repair(args: argparse.Namespace, store) -> int:
    for line in repair(store).lines():
        print(line)
    return 0


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM ends the run like Ctrl-C: the pipeline records it "cancelled" and the CLI exits cleanly.
    raise KeyboardInterrupt("cancelled: the process received SIGTERM")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "presets":
        return print_presets(args)
    if args.command in ("train", "run", "study"):
        check_args(args)  # bad values (for every seed) fail here, before torch is imported or a run saved
        drop_duplicate_methods(args)
        from ..phase1._device import configure_threads  # deferred: imports torch (seconds), after the checks

        configure_threads()
        # a torchrun rank > 0 trained its share; rank 0 saves and prints (a study runs on one process)
        if args.command != "study" and _distributed_worker(args):
            return 0
    if args.command == "repair":
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
