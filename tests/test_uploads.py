"""Bounded zip uploads: budget against a bomb (disk and memory ceilings), member caps, dedupe, sweep."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from eos_core.errors import UploadRejected
from eos_core.uploads import ingest_zip, marker_path, sweep_uploads, unique_class_names

ROOT = Path(__file__).resolve().parents[1]


def _png(value: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), value).save(buf, "PNG")
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


GOOD = {"set/cat/1.png": _png(10), "set/cat/2.png": _png(20), "set/dog/1.png": _png(200), "set/dog/2.png": _png(210)}


def test_good_upload_is_unpacked_and_reuploads_reuse_the_folder(tmp_path):
    folder, classes = ingest_zip(_zip(GOOD), tmp_path)
    assert classes == ["cat", "dog"]
    files = sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())
    assert files == ["cat/0000000.png", "cat/0000001.png", "dog/0000002.png", "dog/0000003.png"]
    assert marker_path(Path(folder)).is_file()
    again, classes2 = ingest_zip(_zip(GOOD), tmp_path)  # the same bytes: the same folder, nothing rewritten
    assert (again, classes2) == (folder, classes)
    other, _ = ingest_zip(_zip({**GOOD, "set/dog/3.png": _png(220)}), tmp_path)
    assert other != folder
    names = [Path(folder).name, Path(other).name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names + [n + ".json" for n in names])


def test_a_zip_file_on_disk_is_accepted(tmp_path):
    path = tmp_path / "up.zip"
    path.write_bytes(_zip(GOOD))
    folder, classes = ingest_zip(path, tmp_path / "uploads")
    assert classes == ["cat", "dog"] and Path(folder).parent == tmp_path / "uploads"


def test_unique_class_names():
    assert unique_class_names(["a", "a_2", "a~"]) == {"a": "a", "a_2": "a_2", "a~": "a_3"}
    assert unique_class_names(["b!", "b", "b_2"]) == {"b": "b", "b_2": "b_2", "b!": "b_3"}
    assert unique_class_names(["Cat", "cat"]) == {"Cat": "Cat", "cat": "cat_2"}  # case-insensitive disks
    assert unique_class_names(["..", "~~"]) == {"..": "class", "~~": "class_2"}


def test_member_count_is_refused_before_the_member_list_is_parsed(tmp_path, monkeypatch):
    data = _zip({f"c{i % 2}/{i}.png": b"" for i in range(500)})

    def no_parse(*_a, **_k):
        raise AssertionError("the member list was parsed")

    monkeypatch.setattr(zipfile, "ZipFile", no_parse)
    with pytest.raises(UploadRejected, match="more than 100 files"):
        ingest_zip(data, tmp_path, max_members=100)
    assert list(tmp_path.iterdir()) == []


def _raw_bomb(member_mb: int, names: tuple[str, ...] = ("cat/1.png", "dog/1.png")) -> bytes:
    """A zip whose deflate members each expand to ``member_mb`` MB of zeros (about 1 KB per MB).

    Built from one full-flush deflate block repeated, so it takes milliseconds; for big members the
    CRC field is left 0 (an extractor that respects its budget never reaches the end to check it).
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush(zlib.Z_FINISH)
    stream = block * member_mb + tail
    size = member_mb << 20
    crc = 0
    for _ in range(member_mb if member_mb <= 16 else 0):
        crc = zlib.crc32(bytes(1 << 20), crc)
    out, central = io.BytesIO(), io.BytesIO()
    for name in names:
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21, crc, len(stream), size, len(raw), 0))
        out.write(raw + stream)
        central.write(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0, 0x21, crc, len(stream),
                                  size, len(raw), 0, 0, 0, 0, 0o644 << 16, offset) + raw)
    cd = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(names), len(names), len(cd), out.tell(), 0)
    return out.getvalue() + cd + end


_BOMB_CHILD = textwrap.dedent("""
    import json, os, resource, sys, tracemalloc
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import eos_core.uploads as up
    from eos_core.errors import UploadRejected
    data, dest, budget = Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]), int(sys.argv[4])
    peak_disk = [0]
    real_copy = up._copy
    def copy(*args):
        try:
            return real_copy(*args)
        finally:
            peak_disk[0] = max(peak_disk[0], sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()))
    up._copy = copy
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        up.ingest_zip(data, dest, max_bytes=budget)
        msg = None
    except UploadRejected as err:
        msg = str(err)
    py_peak = tracemalloc.get_traced_memory()[1]
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    left = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) if dest.exists() else 0
    print(json.dumps({"message": msg, "peak_disk": peak_disk[0], "left": left, "py_peak": py_peak,
                      "rss_growth_kb": rss1 - rss0}))
""")


def test_bomb_stays_under_the_disk_and_memory_ceilings(tmp_path):
    bomb = _raw_bomb(1536)  # two members of 1.5 GB each: 3 GB of zeros in a ~3 MB zip
    assert len(bomb) < 4 << 20
    (tmp_path / "bomb.zip").write_bytes(bomb)
    budget = 32 << 20
    out = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(ROOT), str(tmp_path / "bomb.zip"),
                          str(tmp_path / "uploads"), str(budget)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    print("bomb:", len(bomb), "bytes zip;", res)  # the figures quoted in bench/RESULTS.md
    assert res["message"] == "The archive unpacks to more than 32 MB of images; upload a smaller image set."
    # Disk ceiling: the budget (never budget + a chunk: the chunk that crosses it is not written).
    assert 0 < res["peak_disk"] <= budget
    assert res["left"] == 0
    # Memory ceiling: Python allocations stay within a few chunks (the bomb's 3 MB bytes are already held);
    # the process's peak RSS grows by less than 64 MB, whereas reading members whole would need 1.5 GB.
    assert res["py_peak"] < 8 << 20
    assert res["rss_growth_kb"] < 64 * 1024


def test_budget_is_counted_over_all_members(tmp_path, monkeypatch):
    monkeypatch.setattr("eos_core.uploads._check_image", lambda *a: None)  # zeros are not an image
    with pytest.raises(UploadRejected, match="more than 3 MB"):
        ingest_zip(_raw_bomb(2), tmp_path, max_bytes=3 << 20)  # 2 MB + 2 MB: the second member crosses it
    assert list(tmp_path.iterdir()) == []
    folder, _ = ingest_zip(_raw_bomb(2), tmp_path, max_bytes=4 << 20)  # exactly the budget: accepted
    assert sum(p.stat().st_size for p in Path(folder).rglob("*.png")) == 4 << 20


def test_sweep_removes_abandoned_uploads_but_keeps_used_and_recent_ones(tmp_path):
    used, _ = ingest_zip(_zip(GOOD), tmp_path)
    old, _ = ingest_zip(_zip({**GOOD, "set/cat/3.png": _png(30)}), tmp_path)
    recent, _ = ingest_zip(_zip({**GOOD, "set/cat/4.png": _png(40)}), tmp_path)
    stale_tmp = tmp_path / ".tmp-0123456789abcdef"
    stale_tmp.mkdir()
    fresh_tmp = tmp_path / ".tmp-fedcba9876543210"  # an ingest in progress elsewhere
    fresh_tmp.mkdir()
    week_ago = time.time() - 7 * 24 * 3600
    for path in (marker_path(Path(used)), marker_path(Path(old)), stale_tmp):
        os.utime(path, (week_ago, week_ago))
    removed = sweep_uploads(tmp_path, max_age_s=24 * 3600, keep=[used])
    assert sorted(removed) == sorted([old, str(stale_tmp)])
    assert Path(used).is_dir() and Path(recent).is_dir() and fresh_tmp.is_dir()
    assert not marker_path(Path(old)).exists()
    again, _ = ingest_zip(_zip({**GOOD, "set/cat/3.png": _png(30)}), tmp_path)  # re-uploaded after a sweep
    assert again == old and len(list(Path(old).rglob("*.png"))) == 5


def test_app_extract_is_a_thin_call_that_sweeps(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RUNS_DIR", str(tmp_path))
    from ui import uploads

    folder, classes = uploads.extract_image_zip(_zip(GOOD))
    assert classes == ["cat", "dog"] and Path(folder).parent == tmp_path / "uploads"
    with pytest.raises(UploadRejected, match="not a .zip"):
        uploads.extract_image_zip(b"nope")
