"""One damaged file never takes the store down: a real digits run (made once by the CLI) is copied
under two ids, one copy is damaged the way each case says, and the CLI (`list`, `list --json`,
`repair`) and every page must name the damaged run in one sentence with the repair command, while
the other run keeps working; `repair` moves the damaged file to ``quarantine/<run>/`` with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import PAGE1, PAGE2, PAGE3, PAGE4, app, ok

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "EOS_TORCH_THREADS": "1"}
TINY = ["run", "--dataset", "digits", "--ratio", "10", "--max-per-class", "40", "--epochs", "2",
        "--methods", "none,eos", "--head-epochs", "1", "--no-gap-snapshots", "--json"]
KEEP, BAD = "20240101-000000-aaaaaa", "20240102-000000-bbbbbb"  # BAD is the newer: pickers' first choice
REPAIR = "`python -m eos_core repair`"


def _artifact(file: str, reason: str) -> str:
    return (f"Run {BAD} cannot be opened: {file} is damaged ({reason}); {REPAIR} moves it to the quarantine "
            "folder, and other runs are not affected.")


def _row(reason: str) -> str:
    return (f"Run {BAD} cannot be opened: its index row is damaged ({reason}); {REPAIR} restores it from the "
            "run folder, and other runs are not affected.")


def _set_row(root: Path, column: str, value: str) -> None:
    con = sqlite3.connect(root / "index.sqlite")
    con.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (value, BAD))
    con.commit()
    con.close()


def _bad_record(root: Path) -> None:
    path = root / BAD / "record.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "created": "yesterday", "metrics": "garbage"}))
    for suffix in ("", "-wal", "-shm"):
        Path(str(root / "index.sqlite") + suffix).unlink(missing_ok=True)


def _edit_npz(root: Path, **change) -> None:
    path = root / BAD / "embeddings.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    for key, fn in change.items():
        arrays[key] = fn(arrays[key])
    np.savez(path, **arrays)


# case -> (damage, the sentence, the file repair moves (None: the row is restored), pages that read it)
CASES = {
    "config of the wrong types in the index": (
        lambda r: _set_row(r, "config", '{"data": "digits", "train": 3}'),
        _row("config.data is a string, not an object"), None, (PAGE1, PAGE2, PAGE3, PAGE4)),
    "garbage metrics in the index": (
        lambda r: _set_row(r, "metrics", '"garbage"'),
        _row("metrics is a string, not an object"), None, (PAGE1, PAGE2, PAGE3, PAGE4)),
    "record.json of the wrong types, index deleted": (
        _bad_record, _artifact("record.json", "created is a string, not a time"), "record.json",
        (PAGE1, PAGE2, PAGE3, PAGE4)),
    "garbage methods.json": (
        lambda r: (r / BAD / "methods.json").write_text('"garbage"'),
        _artifact("methods.json", "it holds a string where an object belongs"), "methods.json", (PAGE1, PAGE3, PAGE4)),
    "NaN embeddings": (
        lambda r: _edit_npz(r, train_emb=lambda a: np.full_like(a, np.nan)),
        _artifact("embeddings.npz", "train_emb holds NaN or infinite values"), "embeddings.npz", (PAGE2, PAGE3)),
    "embeddings of the wrong shape": (
        lambda r: _edit_npz(r, train_emb=lambda a: a[:, :3]),
        _artifact("embeddings.npz", "train_emb has 3 columns and test_emb 64"), "embeddings.npz", (PAGE2, PAGE3)),
    "gap.json of the wrong types": (
        lambda r: (r / BAD / "gap.json").write_text('{"per_class": "garbage"}'),
        _artifact("gap.json", "per_class is not a list of objects"), "gap.json", (PAGE1, PAGE2, PAGE3)),
}


def _cli(root: Path | str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eos_core", *args, "--runs-dir", str(root)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """One real tiny digits run, as two run folders (KEEP, BAD) without an index."""
    made = tmp_path_factory.mktemp("made")
    out = _cli(made, *TINY)
    assert out.returncode == 0, out.stderr
    (run,) = [p for p in made.iterdir() if p.is_dir()]
    root = tmp_path_factory.mktemp("base")
    for rid in (KEEP, BAD):
        shutil.copytree(run, root / rid)
        rec = json.loads((root / rid / "record.json").read_text())
        created = 1704067200.0 + (86400.0 if rid == BAD else 0.0)
        (root / rid / "record.json").write_text(json.dumps({**rec, "id": rid, "created": created,
                                                            "updated": created}))
    return root


@pytest.fixture()
def store_dir(base, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(base, root)
    assert _cli(root, "list").returncode == 0  # builds the index from the folders
    monkeypatch.setenv("EOS_RUNS_DIR", str(root))
    return root


def _listed(root: Path) -> dict[str, dict]:
    out = _cli(root, "list", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return {r["run_id"]: r for r in json.loads(out.stdout)}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_names_the_damaged_run_and_repair_quarantines_it(store_dir, case):
    damage, sentence, moved, _ = CASES[case]
    keep_files = {p.name: p.read_bytes() for p in (store_dir / KEEP).iterdir()}
    damage(store_dir)
    listed = _listed(store_dir)
    assert listed[KEEP]["status"] == "finished"
    if moved in (None, "record.json"):  # the run's record is unreadable: listed as damaged, named
        assert listed[BAD] == {"run_id": BAD, "status": "damaged", "message": sentence}
        text = _cli(store_dir, "list")
        assert text.returncode == 0 and text.stderr == f"warning: {sentence}\n"
        assert [line.split()[:2] for line in text.stdout.splitlines() if BAD in line] == [[BAD, "damaged"]]
    rep = _cli(store_dir, "repair")
    assert rep.returncode == 0 and rep.stderr == "", rep.stderr
    reason = sentence.split(" is damaged (", 1)[1].split("); ", 1)[0]
    expected = [f"restored damaged index rows from their folders: 1 ({BAD})"] if moved in (None, "record.json") else []
    if moved:
        expected.insert(0, f"moved {moved} of run {BAD} to quarantine/{BAD}/ ({reason})")
        assert not (store_dir / BAD / moved).exists() and (store_dir / "quarantine" / BAD / moved).is_file()
        (log,) = (store_dir / "quarantine" / BAD / "reasons.txt").read_text().splitlines()
        assert log.endswith(f" {moved}: {reason}")
    assert rep.stdout.splitlines() == expected
    after = _listed(store_dir)
    assert {rid: r["status"] for rid, r in after.items()} == {KEEP: "finished", BAD: "finished"}
    assert {p.name: p.read_bytes() for p in (store_dir / KEEP).iterdir()} == keep_files  # untouched
    assert _cli(store_dir, "repair").stdout == "nothing to repair\n"  # healed for good


def test_repair_of_a_folder_that_does_not_exist_says_so_and_creates_nothing(tmp_path):
    missing = tmp_path / "no-such-runs"
    out = _cli(missing, "repair")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == f"error: The runs folder {missing} does not exist, so there is nothing to repair.\n"
    assert not missing.exists()


PAGE_CASES = [(case, page) for case, (_, _, _, pages) in CASES.items() for page in pages]


@pytest.mark.parametrize(("case", "page"), PAGE_CASES, ids=[f"{c}-{p.split('/')[1][:-3]}" for c, p in PAGE_CASES])
def test_each_page_names_the_damaged_run_in_one_sentence(store_dir, case, page):
    damage, sentence, _, _ = CASES[case]
    damage(store_dir)
    at = app(page, run=BAD)
    ok(at)
    assert sentence in [e.value for e in at.error]
    assert "This run has no phase-3 results yet." not in [i.value for i in at.info]
    if page == PAGE1:  # the per-class table is replaced by the sentence, not dropped without a word
        assert not any("train n" in d.value.columns for d in at.dataframe)


def test_other_runs_keep_working_on_every_page(store_dir):
    CASES["garbage methods.json"][0](store_dir)
    CASES["NaN embeddings"][0](store_dir)
    for page in (PAGE1, PAGE2, PAGE3, PAGE4):
        at = app(page, run=KEEP)
        ok(at)
        assert not at.error, (page, [e.value for e in at.error])
    at = app(PAGE1, run=KEEP)
    stored = json.loads((store_dir / KEEP / "phase1.json").read_text())
    assert at.dataframe[0].value["train n"].tolist() == stored["train_counts"]


def test_past_runs_name_a_damaged_run_instead_of_leaving_it_out(store_dir):
    damage, sentence, _, _ = CASES["config of the wrong types in the index"]
    damage(store_dir)
    at = app(PAGE1, run=KEEP)
    ok(at)
    assert not at.error and f"⚠️ {sentence}" in [c.value for c in at.caption]
    past = [d.value for d in at.dataframe if "what" in d.value.columns]
    assert [df["run"].tolist() for df in past] == [[KEEP]]
