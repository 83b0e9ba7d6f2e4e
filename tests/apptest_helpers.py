"""AppTest helpers shared by the app's test files (not a test module)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ui.jobs import registry

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE1 = "app_pages/1_setup.py"
PAGE2 = "app_pages/2_gap.py"
PAGE3 = "app_pages/3_synthetic.py"
PAGE4 = "app_pages/4_heads.py"
JOB_TIMEOUT_S = 300


def app(page: str | None = None, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def chart_specs(at) -> dict[str, dict]:
    """Plotly charts on the page: user key -> figure spec."""
    out = {}
    for el in at.get("plotly_chart"):
        key = el.proto.id.rsplit("-", 1)[-1]
        out[key] = json.loads(el.proto.spec)
    return out


def arr(v) -> np.ndarray:
    """A data array from a figure spec (plotly encodes numpy arrays as base64 ``bdata``)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        shape = v.get("shape", -1)
        shape = tuple(int(n) for n in shape.split(",")) if isinstance(shape, str) else shape  # "3, 10"
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).reshape(shape)
    return np.asarray(v)


def finish(at, job_id: str, timeout: float = JOB_TIMEOUT_S) -> None:
    """Await the job's end (its ``done`` event), then rerun the page once."""
    job = registry().get(job_id)
    assert job is not None and job.wait(timeout), f"job {job_id} did not end within {timeout:.0f} s"
    at.run()
    ok(at)


def num(v) -> float:
    """A table cell as a number: None and the "—" of a cell with no value read as NaN."""
    return float("nan") if v is None or v == "—" else float(v)


def same(a, b) -> bool:
    """Equal number sequences, NaN equal to NaN (a measure undefined for a class)."""
    a, b = [num(x) for x in a], [num(x) for x in b]
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def map_specs(at) -> dict[str, dict]:
    """Map components on the page: user key -> {"args": the component's arguments, "points": its
    decoded point table} (the point data is the file the browser fetches, read from the served folder)."""
    import base64

    import pandas as pd

    from ui.map_component import served_dir

    out = {}
    for el in at.get("component_instance"):
        if not el.proto.component_name.endswith("eos_map"):
            continue
        args = json.loads(el.proto.json_args)
        data = json.loads((served_dir() / args["data"]["url"]).read_text())

        def dec(name: str, dtype: str, data: dict = data) -> np.ndarray:
            return np.frombuffer(base64.b64decode(data[name]), dtype=dtype)

        points = pd.DataFrame({"id": data["ids"], "x": dec("x", "<f4"), "y": dec("y", "<f4"),
                               "class_name": np.asarray(data["class_names"])[dec("cls", "<i2")],
                               "split": np.asarray(data["splits"])[dec("split", "u1")]})
        out[el.proto.id.rsplit("-", 1)[-1]] = {"args": args, "data": data, "points": points}
    return out
