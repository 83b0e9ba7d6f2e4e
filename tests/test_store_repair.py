"""``repair`` and the store's type checks, in process (no CLI, no training): records and configs of the
wrong types, the quarantine folder and what ``repair`` says."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from eos_core.errors import DamagedRun
from eos_core.store import RunStore, repair

REPAIR = "`python -m eos_core repair`"


def _run(store: RunStore, dataset: str = "digits") -> str:
    rid = store.create_run({"data": {"dataset": dataset}, "methods": ["eos"]})
    store.finish_run(rid, metrics={"phase1": {"balanced_accuracy": 0.5}}, timings={"phase1_s": 1.0})
    return rid


def _drop_index(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(root / "index.sqlite") + suffix).unlink(missing_ok=True)


def _write(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("config", '{"data": "digits", "train": 3}', "config.data is a string, not an object"),
    ("config", '{"methods": "eos"}', "config.methods is not a list of names"),
    ("config", '{"train": {"seed": "0"}}', "config.train.seed is a string"),
    ("config", '{"head": {"seed": 1.5}}', "config.head.seed is not a whole number"),
    ("metrics", '{"phase1": {"balanced_accuracy": "high"}}', "metrics.phase1.balanced_accuracy is a string, "
                                                              "not a number"),
    ("timings", '[]', "timings is a list, not an object"),
    ("status", "done", "status 'done' is not one of running, finished, failed, cancelled, interrupted"),
])
def test_an_index_row_of_the_wrong_types_is_one_damaged_run(tmp_path, column, value, reason):
    store = RunStore(tmp_path)
    keep, bad = _run(store), _run(store)
    con = sqlite3.connect(tmp_path / "index.sqlite")
    con.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (value, bad))
    con.commit()
    con.close()
    sentence = (f"Run {bad} cannot be opened: its index row is damaged ({reason}); {REPAIR} restores it from the "
                "run folder, and other runs are not affected.")
    assert [r.id for r in store.list_runs()] == [keep] and store.damaged == [(bad, sentence)]
    with pytest.raises(DamagedRun) as err:
        store.get_run(bad)
    assert str(err.value) == sentence
    assert repair(store).lines() == [f"restored damaged index rows from their folders: 1 ({bad})"]
    assert store.get_run(bad).config == {"data": {"dataset": "digits"}, "methods": ["eos"]}


def test_a_record_of_the_wrong_types_without_an_index_is_named_then_recovered(tmp_path):
    store = RunStore(tmp_path)
    keep, bad = _run(store), _run(store)
    rec = json.loads((tmp_path / bad / "record.json").read_text())
    _write(tmp_path / bad / "record.json", {**rec, "created": "yesterday", "metrics": "garbage"})
    _drop_index(tmp_path)
    store = RunStore(tmp_path)
    sentence = (f"Run {bad} cannot be opened: record.json is damaged (created is a string, not a time); {REPAIR} "
                "moves it to the quarantine folder, and other runs are not affected.")
    assert [r.id for r in store.list_runs()] == [keep] and store.damaged == [(bad, sentence)]
    with pytest.raises(DamagedRun) as err:
        store.get_run(bad)
    assert str(err.value) == sentence
    assert repair(store).lines() == [
        f"moved record.json of run {bad} to quarantine/{bad}/ (created is a string, not a time)",
        f"imported run folders missing from the index: 1 ({keep})",  # opening the store did that
        f"restored damaged index rows from their folders: 1 ({bad})"]
    got = store.get_run(bad)
    assert (got.status, got.message, got.metrics) == (
        "interrupted", "Recovered from the run folder: it never finished phase 1.", {})  # it has no phase1.json
    assert json.loads((tmp_path / "quarantine" / bad / "record.json").read_text())["created"] == "yesterday"


def test_a_damaged_record_beside_a_good_index_row_is_rewritten_from_the_row(tmp_path):
    store = RunStore(tmp_path)
    rid = _run(store)
    before = store.get_run(rid)
    _write(tmp_path / rid / "record.json", {"status": 3})
    assert repair(store).lines() == [
        f"moved record.json of run {rid} to quarantine/{rid}/ (status '3' is not one of running, finished, "
        "failed, cancelled, interrupted)"]
    rec = json.loads((tmp_path / rid / "record.json").read_text())
    assert (rec["status"], rec["metrics"], rec["timings"]) == ("finished", before.metrics, before.timings)


def test_a_config_of_the_wrong_types_moves_the_whole_run_to_quarantine(tmp_path):
    store = RunStore(tmp_path)
    keep, bad = _run(store), _run(store)
    store.save_json(bad, "phase1", {"classes": ["a"]})
    _write(tmp_path / bad / "config.json", {"data": "digits"})
    _drop_index(tmp_path)
    store = RunStore(tmp_path)
    assert store.damaged == [] and [r.id for r in store.list_runs()] == [keep]
    assert store.damaged == [(bad, f"Run {bad} cannot be opened: config.json is damaged (config.data is a string, "
                                   f"not an object); {REPAIR} moves it to the quarantine folder, and other runs "
                                   "are not affected.")]
    assert repair(store).lines() == [f"moved the whole run folder of run {bad} to quarantine/{bad}/ "
                                     "(config.data is a string, not an object)",
                                     f"imported run folders missing from the index: 1 ({keep})"]
    assert not (tmp_path / bad).exists() and [r.id for r in store.list_runs()] == [keep] and store.damaged == []
    moved = sorted(p.name for p in (tmp_path / "quarantine" / bad).iterdir())
    assert moved == ["config.json", "phase1.json", "reasons.txt", "record.json"]
    assert repair(store).lines() == ["nothing to repair"]


def test_quarantine_keeps_every_copy_with_its_reason(tmp_path):
    store = RunStore(tmp_path)
    rid = _run(store)
    for text in ('"garbage"', "[1]"):
        (tmp_path / rid / "methods.json").write_text(text)
        lines = repair(store).lines()
        assert lines == [f"moved methods.json of run {rid} to quarantine/{rid}/ (it holds "
                         f"{'a string' if text.startswith(chr(34)) else 'a list'} where an object belongs)"]
    folder = tmp_path / "quarantine" / rid
    assert (folder / "methods.json").read_text() == '"garbage"' and (folder / "methods.json.1").read_text() == "[1]"
    log = (folder / "reasons.txt").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in log] == ["methods.json: it holds a string where an object belongs",
                                                       "methods.json: it holds a list where an object belongs"]
    assert store.get_run(rid).status == "finished"


@pytest.mark.parametrize(("name", "suffix", "reason"), [
    ("embeddings", ".npz", "not a readable NumPy archive"), ("model", ".pt", "not a readable weights file"),
    ("phase1", ".json", "not valid JSON")])
def test_an_unparsable_file_is_named_in_plain_words_without_a_path(tmp_path, name, suffix, reason):
    store = RunStore(tmp_path)
    rid = _run(store)
    (tmp_path / rid / f"{name}{suffix}").write_bytes(b"\x00garbage" * 10)
    load = {".npz": store.load_arrays, ".pt": store.load_state_dict, ".json": store.load_json}[suffix]
    with pytest.raises(DamagedRun) as err:
        load(rid, name)
    assert str(err.value) == (f"Run {rid} cannot be opened: {name}{suffix} is damaged ({reason}); {REPAIR} moves it "
                              "to the quarantine folder, and other runs are not affected.")
    assert repair(store).lines() == [f"moved {name}{suffix} of run {rid} to quarantine/{rid}/ ({reason})"]
