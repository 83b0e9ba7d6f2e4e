"""Phase 1 under torchrun: the batch split, the row gathering, and a real 2-process gloo run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from eos_core.phase1 import current, gather_rows, shard_bounds, split_global_batch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("n", "bs", "world"), [(503, 16, 2), (1000, 128, 3), (37, 8, 4)])
def test_split_sees_every_sample_once_and_keeps_class_counts(n, bs, world):
    y = np.repeat(np.arange(5), np.bincount(np.random.default_rng(0).integers(0, 5, n), minlength=5))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    seen = {r: [] for r in range(world)}
    for b in range(-(-n // bs)):
        glob = perm[b * bs:(b + 1) * bs]
        shares = [split_global_batch(glob, r, world) for r in range(world)]
        assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 1
        assert torch.equal(torch.cat(shares), glob)  # contiguous shares, in order, nothing repeated
        for r, s in enumerate(shares):
            seen[r].append(s)
    every = torch.cat([torch.cat(v) for v in seen.values()]).numpy()
    assert np.array_equal(np.sort(every), np.arange(n))  # each sample exactly once per epoch
    assert np.array_equal(np.bincount(y[every], minlength=5), np.bincount(y, minlength=5))


def test_shard_bounds_tile_the_rows():
    for n, world in [(10, 3), (2, 4), (540, 2)]:
        bounds = [shard_bounds(n, r, world) for r in range(world)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        assert sorted(b - a for a, b in bounds) == sorted(len(s) for s in np.array_split(np.arange(n), world))


def test_single_process_gathers_locally():
    assert current() is None
    x = torch.arange(12.0).reshape(6, 2)
    (out,) = gather_rows(lambda rows: (rows * 2,), x, None)
    assert torch.equal(out, x * 2)


@pytest.mark.slow
def test_torchrun_two_gloo_processes_train_and_rank0_saves(tmp_path):
    from eos_core.store import RunStore, load_phase1

    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EOS_TORCH_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "eos_core",
           "train", "--dataset", "digits", "--ratio", "10", "--epochs", "8", "--seed", "0", "--device", "cpu",
           "--no-gap-snapshots", "--json", "--runs-dir", str(runs)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = RunStore(runs)
    (rec,) = store.list_runs()  # rank 1 wrote nothing
    assert rec.status == "finished"
    p1 = load_phase1(store, rec.id, with_model=True)
    # The gathered embeddings cover the whole imbalanced training set and the whole test set.
    assert p1.embeddings.train_emb.shape[0] == sum(p1.train_counts) == len(p1.train_idx)
    assert p1.embeddings.test_emb.shape[0] == 540 and len(p1.history) == 8
    assert p1.metrics["balanced_accuracy"] > 0.6  # chance is 0.1
    # One JSON object on stdout: only rank 0 printed.
    assert proc.stdout.count('"run_id"') == 1
