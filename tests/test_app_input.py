"""The app's pages with an empty run store, and bad input (a missing dataset, broken uploads)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from apptest_helpers import PAGE2, PAGE3, PAGE4, app, arr, chart_specs, ok


def test_every_page_renders_with_an_empty_store(runs_dir) -> None:
    at = app()
    ok(at)
    for key in ("setup_dataset", "setup_model", "setup_loss"):
        assert at.selectbox(key=key)
    assert at.select_slider(key="setup_ratio").value == 50
    assert at.radio(key="setup_profile").value == "exp"
    # The engine's defaults (one source of truth with the CLI): every method, crt and eos_published included.
    from eos_core import names
    from eos_core.config import RunConfig

    default = RunConfig()
    assert at.multiselect(key="setup_methods").value == list(names.METHODS) == default.methods
    assert at.number_input(key="setup_epochs").value == default.train.epochs
    assert at.slider(key="setup_k").value == default.k_neighbors
    assert at.multiselect(key="setup_methods").options == [names.METHOD_NAMES[m] for m in names.METHODS]
    assert all(names.METHOD_LABELS[m] in at.multiselect(key="setup_methods").help for m in names.METHODS)
    assert any("always run as the control" in c.value for c in at.caption)
    assert not at.select_slider(key="setup_ratio").disabled
    assert at.button(key="train_button") and not at.button(key="train_button").disabled
    spec = chart_specs(at)["counts_chart"]
    assert [t["name"] for t in spec["data"]] == ["train (imbalanced)", "test"]
    y = arr(spec["data"][0]["y"])
    assert y[-1] == int(y[0] / 50)  # n_min = n_max / ρ (integer part)
    at.select_slider(key="setup_ratio").set_value(10).run()  # the chart follows the slider before training
    y = arr(chart_specs(at)["counts_chart"]["data"][0]["y"])
    assert y[-1] == int(y[0] / 10)
    at.radio(key="setup_profile").set_value("as_is").run()  # the dataset's own counts: ρ is not used
    ok(at)
    assert at.select_slider(key="setup_ratio").disabled
    y_as_is = arr(chart_specs(at)["counts_chart"]["data"][0]["y"]).tolist()
    from ui import cache

    assert y_as_is == list(cache.dataset_counts("digits", None, cache.data_dir())["train"])
    at.radio(key="setup_profile").set_value("exp").run()
    at.select_slider(key="setup_ratio").set_value(1000).run()  # would empty the smallest classes
    ok(at)
    assert any("single image" in w.value for w in at.warning)
    assert arr(chart_specs(at)["counts_chart"]["data"][0]["y"]).min() == 1
    for page in (PAGE2, PAGE3, PAGE4):
        at.switch_page(page).run()
        ok(at)
        assert at.info and "Setup & train" in at.info[0].value
        assert len(at.expander) >= 1  # the explanation


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_bad_input_is_a_clear_error(runs_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "no-data"))
    at = app()
    at.selectbox(key="setup_dataset").set_value("mnist").run()  # missing offline
    ok(at)
    assert at.error and "MNIST" in at.error[0].value and at.button(key="train_button").disabled
    at.selectbox(key="setup_dataset").set_value("folder").run()
    ok(at)
    assert at.button(key="train_button").disabled
    cases = {
        "not a zip": (b"hello", "not a .zip"),
        "no images": (_zip({"a/readme.txt": b"x", "b/notes.txt": b"y"}), "no image files"),
        "one class": (_zip({"a/1.png": _png(1), "a/2.png": _png(2)}), "at least 2"),
        "fake images": (_zip({"a/1.png": b"junk", "a/2.png": b"junk", "b/1.png": b"junk", "b/2.png": b"junk"}),
                        "not a readable image"),
        "path traversal": (_zip({"../evil/1.png": _png(1), "/abs/2.png": _png(2)}), ""),
    }
    for name, (data, message) in cases.items():
        at.get("file_uploader")[0].set_value(("upload.zip", data, "application/zip")).run()
        ok(at)
        assert at.error, name
        assert message in " ".join(e.value for e in at.error), (name, [e.value for e in at.error])
        assert at.button(key="train_button").disabled, name
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()
    # a good upload: two classes, counts chart, Train enabled; files under a generated folder
    good = _zip({"set/cats/a.png": _png(10), "set/cats/b.png": _png(20), "set/cats/c.png": _png(30),
                 "set/dogs/a.png": _png(200), "set/dogs/b.png": _png(210), "set/dogs/c.png": _png(220)})
    at.get("file_uploader")[0].set_value(("pets.zip", good, "application/zip")).run()
    ok(at)
    assert not at.error and not at.button(key="train_button").disabled
    assert "cats" in list(arr(chart_specs(at)["counts_chart"]["data"][0]["x"]))
    up = Path(at.session_state["eos_upload"]["folder"])
    assert up.parent == runs_dir / "uploads" and sorted(p.name for p in up.iterdir()) == ["cats", "dogs"]
