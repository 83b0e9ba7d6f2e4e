"""Standalone demo of the map component (used by tests/e2e/test_map.py and bench/bench_map.py).

Run: ``streamlit run ui/map_component/demo_app.py`` (``?n=100000`` for a large map; ``&panel=1`` for the app's
selection panel, :func:`ui.selection.selection_panel`, as bench/bench_app.py times it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `import ui`

from ui.map_component import map_chart  # noqa: E402
from ui.map_component.demo import demo_images, demo_points  # noqa: E402

st.set_page_config(page_title="EOS map demo", layout="wide")
n = int(st.query_params.get("n", 2000))
color_by = st.query_params.get("color", "class")


@st.cache_data
def _data(n: int) -> pd.DataFrame:
    return demo_points(n)


@st.cache_data
def _images():
    return demo_images()[0]


points = _data(n)
sel = map_chart(points, _images(), color_by=color_by, key="demo", height=600, title=f"Demo map, {len(points):,} points")
if st.query_params.get("panel"):
    from ui.figures.common import thumbnail_png
    from ui.selection import selection_panel

    selection_panel(points, sel, key="demo_sel",
                    thumbs=lambda rows: [thumbnail_png(im) for im in _images()[rows["image"].to_numpy()]])
    st.stop()
ids = sel.get("ids") or []
st.markdown(f"**Selected: {len(ids)} points** (mode: {sel.get('mode')})")
if ids:
    chosen = points.set_index("id").loc[ids]
    st.text("ids: " + ", ".join(str(i) for i in ids[:20]) + (" …" if len(ids) > 20 else ""))
    st.dataframe(chosen.groupby(["class_name", "split"]).size().rename("points").reset_index(), hide_index=True)
