"""A table of bad inputs across the CLI, the engine API, the run store and zip uploads.

Every case must end in one sentence (an ``EOSError`` or one line on stderr with a non-zero exit),
never a traceback, and must leave the other runs of the store untouched.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from eos_core.config import DataConfig, HeadConfig, RunConfig, TrainConfig
from eos_core.errors import EOSError
from eos_core.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "EOS_TORCH_THREADS": "1"}


# --------------------------------------------------------------------------- helpers

def _good_run(store: RunStore) -> str:
    """A finished run with one artifact of each kind: it must survive every case."""
    rid = store.create_run({"data": {"dataset": "digits", "ratio": 10.0}})
    store.save_arrays(rid, "embeddings", x=np.arange(6, dtype=np.float32))
    store.save_json(rid, "phase1", {"classes": ["a", "b"]})
    store.finish_run(rid, metrics={"phase1": {"balanced_accuracy": 0.75}})
    return rid


def _assert_untouched(root: Path, rid: str) -> None:
    store = RunStore(root)
    rec = store.get_run(rid)
    assert rec.status == "finished" and rec.metrics == {"phase1": {"balanced_accuracy": 0.75}}
    assert store.load_arrays(rid, "embeddings")["x"].tolist() == list(range(6))
    assert store.load_json(rid, "phase1") == {"classes": ["a", "b"]}


def _one_sentence(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eos_core", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=ROOT)


def _png(size: tuple[int, int] = (8, 8), value: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, "PNG")
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` pixels (a pixel bomb)."""
    data = bytearray(_png())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17]))
    data[ihdr + 17:ihdr + 21] = crc.to_bytes(4, "big")
    return bytes(data)


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _two_classes(**extra: bytes) -> dict[str, bytes]:
    return {"cat/1.png": _png(), "cat/2.png": _png(), "dog/1.png": _png(), "dog/2.png": _png(), **extra}


def _patch_headers(data: bytes, *, flags: int | None = None, method: int | None = None) -> bytes:
    """Set the general-purpose flags / compression method of every member (local + central)."""
    out = bytearray(data)
    for sig, flag_off, method_off in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        pos = out.find(sig)
        while pos >= 0:
            if flags is not None:
                out[pos + flag_off:pos + flag_off + 2] = flags.to_bytes(2, "little")
            if method is not None:
                out[pos + method_off:pos + method_off + 2] = method.to_bytes(2, "little")
            pos = out.find(sig, pos + 4)
    return bytes(out)


def _bad_crc() -> bytes:
    data = bytearray(_zip(_two_classes(), zipfile.ZIP_STORED))
    png = _png()
    pos = data.index(png[:16])  # the first member's stored bytes
    data[pos + 20] ^= 0xFF
    return bytes(data)


def _bomb(n_bytes: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("cat/1.png", "dog/1.png"):
            with zf.open(name, "w", force_zip64=True) as fh:
                chunk = bytes(1 << 20)
                for _ in range(n_bytes >> 20):
                    fh.write(chunk)
    return buf.getvalue()


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in _two_classes().items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo("dog/link.png")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


# Caps small enough for fast tests; the defaults are documented in eos_core.data._uploads.
UPLOAD_CAPS = {"max_zip_bytes": 8 << 20, "max_images": 50, "max_bytes": 4 << 20, "max_pixels": 4096 * 4096}


def _ingest(data: bytes, root: Path):
    try:
        from eos_core.data import ingest_zip
    except ImportError:  # before eos_core.data._uploads existed: the app's extractor
        os.environ["EOS_RUNS_DIR"] = str(root)
        import app_state

        return app_state.extract_image_zip(data)
    return ingest_zip(data, root / "uploads", **UPLOAD_CAPS)


# --------------------------------------------------------------------------- CLI (subprocess)

def _runs_file(tmp: Path) -> str:
    (tmp / "afile").write_text("x")
    return str(tmp / "afile")


CLI_CASES = {
    "seed -1": (["train", "--seed", "-1"], "seed"),
    "run seed -5": (["run", "--seed", "-5"], "seed"),
    "seed 2**40": (["train", "--seed", str(2**40)], "seed"),
    "lr inf": (["train", "--lr", "inf"], "learning rate"),
    "lr -1": (["train", "--lr", "-1"], "learning rate"),
    "batch 1": (["train", "--batch-size", "1"], "batch size"),
    "class cap 0": (["train", "--max-per-class", "0"], "class cap"),
    "k 0": (["run", "--k", "0"], "k_neighbors"),
    "head epochs 0": (["run", "--head-epochs", "0"], "head epochs"),
    "epochs 10**6": (["train", "--epochs", "1000000"], "epochs"),
    "ratio nan": (["train", "--ratio", "nan"], "ratio"),
    "runs-dir is a file": (["train", "--runs-dir", "{file}"], "is a file"),
    "runs-dir under a file": (["train", "--runs-dir", "{file}/runs"], "is a file"),
    "list runs-dir is a file": (["list", "--runs-dir", "{file}"], "is a file"),
    "runs-dir not creatable": (["train", "--runs-dir", "/sys/eos-runs"], "/sys/eos-runs"),
    "runs-dir read-only": (["list", "--runs-dir", "/sys/kernel"], "/sys/kernel"),
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_bad_input_is_one_sentence(tmp_path, name):
    args, needle = CLI_CASES[name]
    args = [a.replace("{file}", _runs_file(tmp_path)) for a in args]
    if "--runs-dir" not in args:
        args += ["--runs-dir", str(tmp_path / "runs")]
    out = _cli(*args)
    assert out.returncode != 0
    line = _one_sentence(out.stderr)
    assert needle.lower() in line.lower(), line
    assert out.stdout == ""


# --------------------------------------------------------------------------- engine API

API_CASES = {
    "from_dict data not a dict": lambda: RunConfig.from_dict({"data": "x"}),
    "from_dict not a dict": lambda: RunConfig.from_dict([1, 2]),
    "from_dict epochs text": lambda: RunConfig.from_dict({"train": {"epochs": "ten"}}),
    "from_dict k text": lambda: RunConfig.from_dict({"k_neighbors": "abc"}),
    "from_dict methods int": lambda: RunConfig.from_dict({"methods": 5}),
    "from_dict ratio text": lambda: RunConfig.from_dict({"data": {"ratio": "high"}}),
    "from_dict decay_at int": lambda: RunConfig.from_dict({"train": {"decay_at": 3}}),
    "from_dict augment text": lambda: RunConfig.from_dict({"train": {"augment": "yes"}}),
    "data seed -5": lambda: DataConfig(seed=-5).validate(),
    "data profile int": lambda: DataConfig(profile=5).validate(),
    "data class_order text": lambda: DataConfig(class_order="abc").validate(),
    "train momentum 5": lambda: TrainConfig(momentum=5).validate(),
    "train weight decay < 0": lambda: TrainConfig(weight_decay=-1e-3).validate(),
    "train seed 2**40": lambda: TrainConfig(seed=2**40).validate(),
    "train warmup 2": lambda: TrainConfig(warmup_frac=2.0).validate(),
    "train decay_at unordered": lambda: TrainConfig(decay_at=(0.9, 0.5)).validate(),
    "train focal gamma < 0": lambda: TrainConfig(focal_gamma=-1.0).validate(),
    "train snapshot 0": lambda: TrainConfig(snapshot_size=0).validate(),
    "train epochs text": lambda: TrainConfig(epochs="ten").validate(),
    "train device tpu": lambda: TrainConfig(device="tpu").validate(),
    "train drw 1.5": lambda: TrainConfig(drw_frac=1.5).validate(),
    "head batch 0": lambda: HeadConfig(batch_size=0).validate(),
    "head momentum -0.1": lambda: HeadConfig(momentum=-0.1).validate(),
    "head lr nan": lambda: HeadConfig(lr=math.nan).validate(),
    "head warmup -1": lambda: HeadConfig(warmup_epochs=-1).validate(),
    "head seed -1": lambda: HeadConfig(seed=-1).validate(),
    "run k 0": lambda: RunConfig(k_neighbors=0).validate(),
    "run methods text": lambda: RunConfig(methods="eos").validate(),
}


@pytest.mark.parametrize("name", list(API_CASES))
def test_api_misuse_raises_one_sentence_eos_error(name):
    with pytest.raises(EOSError) as err:
        API_CASES[name]()
    _one_sentence(str(err.value))


def test_valid_configs_still_round_trip():
    cfg = RunConfig.from_dict(RunConfig().to_dict())
    cfg.validate()
    assert cfg == RunConfig()


# --------------------------------------------------------------------------- store

def _damage_row(root: Path, rid: str, column: str) -> None:
    con = sqlite3.connect(root / "index.sqlite")
    con.execute(f"UPDATE runs SET {column} = '{{not json' WHERE id = ?", (rid,))
    con.commit()
    con.close()


def _victim(store: RunStore) -> str:
    rid = store.create_run({"data": {"dataset": "digits"}})
    store.save_json(rid, "phase1", {"classes": ["a"]})
    store.save_arrays(rid, "embeddings", x=np.ones(3, np.float32))
    store.save_state_dict(rid, "model", {"w": __import__("torch").ones(2)})
    store.finish_run(rid)
    return rid


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 10)


def _half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


STORE_CASES = {
    "damaged config row: get_run": (lambda s, v: (_damage_row(s.root, v, "config"), s.get_run(v))),
    "damaged metrics row: get_run": (lambda s, v: (_damage_row(s.root, v, "metrics"), s.get_run(v))),
    "garbage json artifact": (lambda s, v: (_garbage(s.run_dir(v) / "phase1.json"), s.load_json(v, "phase1"))),
    "garbage npz artifact": (lambda s, v: (_garbage(s.run_dir(v) / "embeddings.npz"), s.load_arrays(v, "embeddings"))),
    "half npz artifact": (lambda s, v: (_half(s.run_dir(v) / "embeddings.npz"), s.load_arrays(v, "embeddings"))),
    "garbage checkpoint": (lambda s, v: (_garbage(s.run_dir(v) / "model.pt"), s.load_state_dict(v, "model"))),
    "missing artifact": (lambda s, v: ((s.run_dir(v) / "phase1.json").unlink(), s.load_json(v, "phase1"))),
    "artifact replaced by a folder": (lambda s, v: (((s.run_dir(v) / "phase1.json").unlink(),
                                                     (s.run_dir(v) / "phase1.json").mkdir()),
                                                    s.load_json(v, "phase1"))),
}


@pytest.mark.parametrize("name", list(STORE_CASES))
def test_damaged_run_is_one_sentence_and_others_keep_working(tmp_path, name):
    store = RunStore(tmp_path)
    keep = _good_run(store)
    victim = _victim(store)
    with pytest.raises(EOSError) as err:
        STORE_CASES[name](store, victim)
    assert victim in _one_sentence(str(err.value))
    _assert_untouched(tmp_path, keep)
    assert keep in [r.id for r in RunStore(tmp_path).list_runs()]


def _disk_full(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_is_one_sentence(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    keep = _good_run(store)
    rid = store.create_run({})
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(EOSError) as err:
        store.save_json(rid, "history", [{"epoch": 1}])
    assert "full" in _one_sentence(str(err.value))
    monkeypatch.undo()
    assert not [p for p in store.run_dir(rid).iterdir() if p.name.startswith(".tmp-")]
    _assert_untouched(tmp_path, keep)


def test_full_disk_in_the_cli_is_one_line(tmp_path, monkeypatch, capsys):
    from eos_core.cli import _main as cli

    monkeypatch.setattr(os, "fsync", _disk_full)
    code = cli.main(["train", "--epochs", "1", "--runs-dir", str(tmp_path / "runs")])
    assert code != 0
    assert "full" in _one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize("damage", ["garbage", "half", "empty", "deleted"])
def test_damaged_index_is_rebuilt_with_every_run(tmp_path, damage):
    store = RunStore(tmp_path)
    keep = _good_run(store)
    other = store.create_run({"data": {"dataset": "mnist"}})
    store.fail_run(other, "Boom.")
    index = tmp_path / "index.sqlite"
    for extra in ("-wal", "-shm"):
        Path(str(index) + extra).unlink(missing_ok=True)
    {"garbage": _garbage, "half": _half, "empty": lambda p: p.write_bytes(b""), "deleted": Path.unlink}[damage](index)
    out = _cli("list", "--json", "--runs-dir", str(tmp_path))
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    runs = {r["run_id"]: r for r in json.loads(out.stdout)}
    assert set(runs) == {keep, other}
    assert runs[other]["status"] == "failed"
    _assert_untouched(tmp_path, keep)


# --------------------------------------------------------------------------- uploads

UPLOAD_CASES = {
    "not a zip": (lambda: b"this is not a zip", "zip"),
    "empty upload": (lambda: b"", "zip"),
    "bad CRC": (_bad_crc, "damaged"),
    "encrypted member": (lambda: _patch_headers(_zip(_two_classes(), zipfile.ZIP_STORED), flags=1), "encrypted"),
    "unsupported compression": (lambda: _patch_headers(_zip(_two_classes(), zipfile.ZIP_STORED), method=99),
                                "compression"),
    "parent path": (lambda: _zip(_two_classes(**{"cat/../../evil.png": _png()})), "unsafe"),
    "absolute path": (lambda: _zip(_two_classes(**{"/etc/evil.png": _png()})), "unsafe"),
    "symlink member": (_symlink_zip, "link"),
    "too many images": (lambda: _zip({f"c{i % 2}/{i}.png": _png() for i in range(60)}), "at most 50 are"),
    "bomb over budget": (lambda: _bomb(8 << 20), "unpacks"),
    "pixel bomb": (lambda: _zip(_two_classes(**{"dog/big.png": _png_claiming(60000, 60000)})), "pixels"),
    "not an image": (lambda: _zip(_two_classes(**{"dog/3.png": b"hello"})), "image"),
    "one class": (lambda: _zip({"cat/1.png": _png(), "cat/2.png": _png()}), "2 are needed"),
    "images at top": (lambda: _zip({"1.png": _png(), "2.png": _png()}), "sub-folder"),
    "no images": (lambda: _zip({"a/readme.txt": b"hi", "b/x.txt": b"ho"}), "no image"),
    "archive over cap": (lambda: os.urandom(9 << 20), "MB"),
}


@pytest.mark.parametrize("name", list(UPLOAD_CASES))
def test_bad_upload_is_one_sentence_and_leaves_nothing(tmp_path, name):
    make, needle = UPLOAD_CASES[name]
    with pytest.raises(EOSError) as err:
        _ingest(make(), tmp_path)
    line = _one_sentence(str(err.value))
    assert needle.lower() in line.lower(), line
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_class_names_stay_unique_after_sanitising(tmp_path):
    folder, classes = _ingest(_zip({f"{c}/{i}.png": _png() for c in ("a", "a_2", "a~") for i in range(2)}), tmp_path)
    assert len(classes) == 3 and len(set(classes)) == 3
    assert sorted(p.name for p in Path(folder).iterdir() if p.is_dir()) == sorted(classes)
