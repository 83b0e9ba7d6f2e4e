"""Page 1's own images: a train/test zip used as given, a folder on this machine, the stored name."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import streamlit as st
from apptest_helpers import app, finish, ok

from ui import uploads

COUNTS = {"train": {"cat": 5, "dog": 3, "emu": 2}, "test": {"cat": 2, "dog": 2, "emu": 1}}


def _png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), value).save(buf, "PNG")
    return buf.getvalue()


def _train_test_zip() -> bytes:
    """A wrapped train/test zip without folder entries (as ``zip -D`` writes it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split, per_class in COUNTS.items():
            for cls, n in per_class.items():
                for i in range(n):
                    zf.writestr(f"myset/{split}/{cls}/{i}.png", _png(20 * i + 5))
    return buf.getvalue()


@pytest.fixture
def address():
    """Set Streamlit's server.address for one test, then put the old value back."""
    old = st.get_option("server.address")
    yield lambda value: st.config.set_option("server.address", value)
    st.config.set_option("server.address", old)


def _given_table(at) -> dict[str, list[int]]:
    df = at.table[0].value
    return {"classes": list(df.index), "train": df["train (as given)"].tolist(), "test": df["test"].tolist()}


def test_a_train_test_zip_is_used_as_given_and_its_name_is_stored_with_the_run(runs_dir) -> None:
    at = app()
    at.selectbox(key="setup_dataset").set_value("folder").run()
    assert at.radio(key="setup_source").value == "zip"
    at.get("file_uploader")[0].set_value(("myset.zip", _train_test_zip(), "application/zip")).run()
    ok(at)
    assert not at.error
    assert any(c.value == "Using **myset (zip)**: 3 classes. Its train/ and test/ folders are used as given: the "
                          "imbalance is applied to train/ only." for c in at.caption)
    assert _given_table(at) == {"classes": ["cat", "dog", "emu"], "train": [5, 3, 2], "test": [2, 2, 1]}
    # Train: the run keeps the zip's name, and the run picker shows it (never the upload folder's hash).
    at.radio(key="setup_profile").set_value("as_is").run()
    at.number_input(key="setup_epochs").set_value(1).run()
    at.multiselect(key="setup_methods").set_value(["ros"]).run()
    at.button(key="train_button").click().run()
    ok(at)
    finish(at, at.session_state["eos_form_job"])
    from ui.cache import get_store, run_label

    [rec] = get_store().list_runs()
    data = rec.config["data"]
    assert data["display_name"] == "myset (zip)" and Path(data["folder"]).parent == runs_dir / "uploads"
    assert run_label(rec).startswith("myset (zip) · ρ=")
    assert any(s.value.startswith(f"Run {rec.id} (myset (zip)) finished") for s in at.success)


def test_a_folder_on_this_machine_is_read_when_the_server_is_local(runs_dir, tmp_path, address) -> None:
    root = tmp_path / "myset"
    for split, per_class in COUNTS.items():
        for cls, n in per_class.items():
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                (root / split / cls / f"{i}.png").write_bytes(_png(20 * i + 5))
    address("localhost")
    at = app()
    at.selectbox(key="setup_dataset").set_value("folder").run()
    at.radio(key="setup_source").set_value("local").run()
    at.text_input(key="setup_local_folder").input(str(tmp_path / "nothing here")).run()
    ok(at)
    assert [e.value for e in at.error] == [f"The image folder '{tmp_path / 'nothing here'}' does not exist or is not "
                                           "a folder."]
    assert at.button(key="train_button").disabled
    at.text_input(key="setup_local_folder").input(str(root)).run()
    ok(at)
    assert not at.error
    assert any(c.value.startswith("Using **myset (folder)**: 3 classes. Its train/ and test/ folders are used as "
                                  "given") for c in at.caption)
    assert _given_table(at) == {"classes": ["cat", "dog", "emu"], "train": [5, 3, 2], "test": [2, 2, 1]}
    assert not at.button(key="train_button").disabled


@pytest.mark.parametrize("shared", ["0.0.0.0", "192.168.1.20", ""])
def test_a_shared_server_refuses_folders_in_one_sentence(runs_dir, address, shared) -> None:
    address(shared)
    assert not uploads.server_is_local()
    at = app()
    at.selectbox(key="setup_dataset").set_value("folder").run()
    at.radio(key="setup_source").set_value("local").run()
    ok(at)
    assert [i.value for i in at.info][0] == uploads.NOT_LOCAL
    assert not at.text_input and at.button(key="train_button").disabled
    from eos_core.errors import DatasetUnavailable

    with pytest.raises(DatasetUnavailable) as err:  # the engine-side entry refuses too, whatever the page does
        uploads.from_local_folder("/etc")
    assert str(err.value) == uploads.NOT_LOCAL


@pytest.mark.parametrize("local", ["localhost", "127.0.0.1", "::1", "[::1]"])
def test_local_addresses(address, local) -> None:
    address(local)
    assert uploads.server_is_local()


def _restore_script(folder: str, display_name: str | None) -> None:
    """Page 1's restore step for a job trained on ``folder``; shows what the page's Data block will use."""
    from types import SimpleNamespace

    import streamlit as st

    from ui.setup_form import restore_form

    cfg = {"data": {"dataset": "folder", "folder": folder, "display_name": display_name, "ratio": 10.0}}
    restore_form(SimpleNamespace(id="job-1", config=cfg))
    for key in ("setup_source", "setup_local_folder"):
        st.text(f"{key}={st.session_state.get(key)}")
    for key in ("eos_upload", "eos_local"):
        rec = st.session_state.get(key)
        st.text(f"{key}={None if rec is None else (rec['name'], rec['classes'], rec['split'], rec['folder'])}")


def test_a_reload_while_training_restores_the_jobs_images(tmp_path) -> None:
    from streamlit.testing.v1 import AppTest

    from eos_core.data import ingest_zip

    upload, _ = ingest_zip(_train_test_zip(), tmp_path / "uploads")
    at = AppTest.from_function(_restore_script, args=(upload, "myset (zip)")).run()
    ok(at)
    assert [t.value for t in at.text] == [
        "setup_source=zip", "setup_local_folder=None",
        f"eos_upload={('myset (zip)', ['cat', 'dog', 'emu'], 'given', upload)}", "eos_local=None"]
    local = tmp_path / "typed"
    for cls in ("a", "b"):
        (local / cls).mkdir(parents=True)
        for i in range(2):
            (local / cls / f"{i}.png").write_bytes(_png(i))
    at = AppTest.from_function(_restore_script, args=(str(local), None)).run()
    ok(at)
    assert [t.value for t in at.text] == [
        "setup_source=local", f"setup_local_folder={local}", "eos_upload=None",
        f"eos_local={('typed (folder)', ['a', 'b'], 'holdout', str(local))}"]
