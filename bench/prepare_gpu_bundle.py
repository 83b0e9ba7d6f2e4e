"""Build the folder the GPU check carries: the CIFAR-10-LT data as one .npz plus the missing wheels.

The GPU machine has no network and its own Python 3.12 with torch, torchvision, numpy, scipy,
scikit-learn and pytest, but no faiss, imbalanced-learn or sklearn-compat; the working tree that
travels to it (this checkout plus the carried folder) is limited to 64 MiB. So this script writes,
into the git-ignored ``.whl/`` folder (see bench/README.md for the layout):

* ``cifar10_lt_r100.npz`` — the CIFAR-10-LT rho = 100 training subset (exponential profile, the
  engine's own :func:`eos_core.data.make_imbalanced`, seed 0: 12,406 images) and the whole test
  set (10,000) of the JPEG stand-in ``cifar10-jpeg/{train,test}/<class>/*.jpg``, kept as the JPEG
  files' bytes (19 MiB; the decoded pixels compress to 61 MiB, too much to carry):
  ``train_jpeg`` / ``test_jpeg`` uint8 (all files' bytes end to end), ``train_offsets`` /
  ``test_offsets`` int64 (N + 1), ``y_train`` / ``y_test`` int64, ``classes``, ``train_files`` (the
  source of each training row), ``ratio``, ``seed``. :func:`load_bundle` decodes it with Pillow
  (on the GPU machine too) into ``x_train`` / ``x_test`` float32 (N, 3, 32, 32) in [0, 1];
* the wheels, fetched with ``pip download`` for CPython 3.12 manylinux x86-64 (exact commands in
  :data:`WHEELS`; ``--no-faiss`` leaves faiss-cpu out, the engine then searches with torch only).

Usage::

    .venv/bin/python bench/prepare_gpu_bundle.py                 # data + wheels into .whl/
    .venv/bin/python bench/prepare_gpu_bundle.py --no-wheels     # data only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eos_core.data._imbalance import make_imbalanced  # noqa: E402

BUNDLE = "cifar10_lt_r100.npz"
LIMIT_BYTES = 64 << 20  # what the device tool carries: the tree and this folder together
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# Only what the GPU tests and benchmarks import that the GPU machine lacks (versions = requirements.txt).
WHEELS = ("imbalanced-learn==0.14.2", "sklearn-compat==0.1.6")
FAISS = "faiss-cpu==1.15.1"  # 18.8 MB: CPU reference for the exactness test and the gap measures


def pip_download_command(spec: str, dest: Path) -> list[str]:
    """The exact ``pip download`` command for one wheel of the GPU machine's Python."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", "-d", str(dest), spec]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    return cmd


def _decode_all(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """JPEG bytes back to float32 (N, 3, H, W) images in [0, 1] (Pillow)."""
    import io

    from PIL import Image

    out = []
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        with Image.open(io.BytesIO(blob[a:b].tobytes())) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32) / 255.0


def load_bundle(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The bundle as arrays: x_train, y_train, x_test, y_test (float32 [0, 1] images), classes."""
    with np.load(path) as z:
        return {"x_train": _decode_all(z["train_jpeg"], z["train_offsets"]), "y_train": z["y_train"],
                "x_test": _decode_all(z["test_jpeg"], z["test_offsets"]), "y_test": z["y_test"],
                "classes": z["classes"]}


def _pack(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    blobs = [f.read_bytes() for f in files]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets


def _listing(split_dir: Path) -> tuple[list[str], list[Path], np.ndarray]:
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    files, labels = [], []
    for c, name in enumerate(classes):
        names = sorted((split_dir / name).glob("*.jpg"))
        files += names
        labels += [c] * len(names)
    return classes, files, np.asarray(labels, dtype=np.int64)


def build_data(src: Path, out: Path, *, ratio: float, seed: int) -> Path:
    """The imbalanced training subset and the test set as JPEG bytes in one .npz."""
    classes, train_files, y_all = _listing(src / "train")
    test_classes, test_files, y_test = _listing(src / "test")
    if classes != test_classes:
        raise SystemExit(f"train and test class folders differ under {src}")
    idx = make_imbalanced(y_all, ratio, "exp", num_classes=len(classes), seed=seed)
    train_jpeg, train_offsets = _pack([train_files[i] for i in idx])
    test_jpeg, test_offsets = _pack(test_files)
    path = out / BUNDLE
    np.savez(path, train_jpeg=train_jpeg, train_offsets=train_offsets, y_train=y_all[idx],
             test_jpeg=test_jpeg, test_offsets=test_offsets, y_test=y_test, classes=np.asarray(classes),
             train_files=np.asarray([str(train_files[i].relative_to(src)) for i in idx]),
             ratio=np.float64(ratio), seed=np.int64(seed))
    print(f"{path}: train {len(idx)} images, counts {np.bincount(y_all[idx]).tolist()}, test {len(test_files)}, "
          f"{path.stat().st_size / 2**20:.1f} MiB")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_src = Path(os.environ.get("EOS_DATA_DIR", ROOT.parent / "shared" / "data")) / "cifar10-jpeg"
    ap.add_argument("--src", type=Path, default=default_src, help="the cifar10-jpeg folder")
    ap.add_argument("--out", type=Path, default=ROOT / ".whl")
    ap.add_argument("--ratio", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-wheels", action="store_true")
    ap.add_argument("--no-faiss", action="store_true", help="leave faiss-cpu out (torch search only)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    build_data(args.src, args.out, ratio=args.ratio, seed=args.seed)
    if not args.no_wheels:
        for spec in WHEELS + (() if args.no_faiss else (FAISS,)):
            cmd = pip_download_command(spec, args.out)
            print(" ".join(cmd))
            subprocess.run(cmd, check=True)
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    tracked = sum((ROOT / p).stat().st_size for p in listed if (ROOT / p).is_file())
    tree = len(listed)
    total = sum(f.stat().st_size for f in args.out.iterdir() if f.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB; with the {tree} tracked files {(total + tracked) / 2**20:.1f} MiB "
          f"of the {LIMIT_BYTES >> 20} MiB the device tool carries")
    return 0 if total + tracked <= LIMIT_BYTES else 1


if __name__ == "__main__":
    raise SystemExit(main())
