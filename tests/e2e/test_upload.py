"""A train/test zip uploaded in a real browser: the page shows its classes and counts as given.

A small image folder is generated in a temporary folder (3 classes, uneven counts, ``train/`` and
``test/``), zipped as ``zip -r`` does (one wrapping folder, folder entries included), and uploaded
through the file input of *Setup & train*. The page must name it after the zip's file name and
show every class with its train and test counts exactly as generated, and no error. A full-page
screenshot goes to ``test-artifacts/e2e/upload_train_test.png``.

Run it alone with ``.venv/bin/python -m pytest -m e2e tests/e2e/test_upload.py``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from eos_core.names import DATASET_LABELS

from .harness import ARTIFACTS, ERROR_BOX, full_page_screenshot, problems_on, wait_idle

pytestmark = pytest.mark.e2e

COUNTS = {"train": {"cat": 6, "dog": 3, "emu": 2}, "test": {"cat": 3, "dog": 2, "emu": 1}}


def _make_zip(tmp: Path) -> Path:
    """``zip -r myset.zip myset`` of a generated folder: folder entries first, then the images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    archive = tmp / "myset.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("myset/"), b"")
        for split, per_class in COUNTS.items():
            zf.writestr(zipfile.ZipInfo(f"myset/{split}/"), b"")
            for cls, n in per_class.items():
                zf.writestr(zipfile.ZipInfo(f"myset/{split}/{cls}/"), b"")
                for i in range(n):
                    path = tmp / f"{split}-{cls}-{i}.png"
                    Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)
                    zf.write(path, f"myset/{split}/{cls}/{i}.png")
    return archive


def _open_my_images(page, server) -> None:
    """Open Setup & train on ``page`` and set the dataset to the user's own images."""
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    expect(page.locator('.st-key-train_button button[data-testid^="stBaseButton"]').first).to_be_visible(
        timeout=90_000)
    wait_idle(page)
    page.locator(".st-key-setup_dataset").get_by_role("button", name="Open").click()
    page.get_by_role("option", name=DATASET_LABELS["folder"]).click()
    wait_idle(page)


def _table(page) -> list[list[str]]:
    """The "Images per class, as given" table: header row, then one row per class."""
    table = page.locator('[data-testid="stTable"] table').first
    return [[c.inner_text().strip() for c in row.locator("th, td").all()] for row in table.locator("tr").all()]


def test_a_train_test_zip_shows_its_classes_and_counts_as_given(page, app_server, tmp_path) -> None:
    from playwright.sync_api import expect

    server = app_server
    archive = _make_zip(tmp_path)
    _open_my_images(page, server)
    uploader = page.locator(".st-key-setup_zip input[type=file]")
    expect(uploader).to_be_attached()
    uploader.set_input_files(str(archive))
    expect(page.get_by_text("Using myset (zip): 3 classes.")).to_be_visible()
    expect(page.locator('[data-testid="stTable"]').first).to_be_visible()
    wait_idle(page)
    full_page_screenshot(page, ARTIFACTS / "upload_train_test.png")
    assert not problems_on(page), f"{problems_on(page)}\n--- server log ---\n{server.log_tail()}"
    caption = page.get_by_text("Using myset (zip): 3 classes.").inner_text()
    assert caption == ("Using myset (zip): 3 classes. Its train/ and test/ folders are used as given: the imbalance "
                       "is applied to train/ only.")
    rows = _table(page)
    assert rows[0] == ["class", "train (as given)", "test"] or rows[0][1:] == ["train (as given)", "test"], rows
    body = [r for r in rows[1:] if r and r[0]]
    assert body == [[c, str(COUNTS["train"][c]), str(COUNTS["test"][c])] for c in ("cat", "dog", "emu")], rows
    # The chart's caption counts the test set as given (the training set is shown after the imbalance).
    expect(page.get_by_text(f"· {sum(COUNTS['test'].values())} test images ·")).to_be_visible()
    train = page.locator('.st-key-train_button button[data-testid^="stBaseButton"]').first
    # Train is enabled once the script has also timed the phase-1 estimate (a spinner until then)
    expect(train).to_be_enabled()


def test_a_folder_on_this_machine_shows_its_counts_and_a_bad_path_one_sentence(page, app_server, tmp_path) -> None:
    """The e2e server listens on 127.0.0.1, so the folder field is offered."""
    from playwright.sync_api import expect

    server = app_server
    root = tmp_path / "pets"
    rng = np.random.default_rng(1)
    from PIL import Image

    for split, per_class in COUNTS.items():
        for cls, n in per_class.items():
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / split / cls / f"{i}.png")
    _open_my_images(page, server)
    page.locator(".st-key-setup_source").get_by_text("a folder on this machine").click()
    field = page.locator(".st-key-setup_local_folder input")
    expect(field).to_be_visible()
    bad = str(tmp_path / "no such folder")
    field.fill(bad)
    field.press("Enter")
    error = page.locator(ERROR_BOX).first
    expect(error).to_be_visible()
    assert error.inner_text().strip().splitlines()[-1] == f"The image folder '{bad}' does not exist or is not a folder."
    field.fill(str(root))
    field.press("Enter")
    expect(page.get_by_text("Using pets (folder): 3 classes.")).to_be_visible()
    expect(page.locator('[data-testid="stTable"]').first).to_be_visible()
    wait_idle(page)
    full_page_screenshot(page, ARTIFACTS / "local_folder.png")
    assert not problems_on(page), problems_on(page)
    body = [r for r in _table(page)[1:] if r and r[0]]
    assert body == [[c, str(COUNTS["train"][c]), str(COUNTS["test"][c])] for c in ("cat", "dog", "emu")], body
