"""EOS Explorer — Streamlit entry point (router only).

    streamlit run app.py

Pages live in ``pages/``, one thin script each, named after their ``url_path`` (``2_gap.py`` ->
``/gap``): with a ``pages/`` folder beside this script, Streamlit's legacy multipage mode handles
a deep link opened as the first request after a server start, before ``st.navigation`` has ever
run; the matching file names let it find the page, whose first call, ``app_state.ensure_router()``,
turns that mode off and runs this router in the same script run. Shared state, caches and background jobs
live in ``app_state``.
"""

import streamlit as st

import app_state

st.set_page_config(page_title="EOS Explorer", page_icon="🔭", layout="wide")

# Keep each file name equal to its url_path after the "N_" prefix (see the docstring).
pages = [
    st.Page("pages/1_setup.py", title="Setup & train", icon="🏋️", url_path="setup", default=True),
    st.Page("pages/2_gap.py", title="Embedding gap", icon="🗺️", url_path="gap"),
    st.Page("pages/3_synthetic.py", title="Synthetic inspector", icon="🧬", url_path="synthetic"),
    st.Page("pages/4_heads.py", title="Head accuracy", icon="📊", url_path="heads"),
]
page = st.navigation(pages)
app_state.sync_session()
app_state.sidebar_status()
try:
    page.run()
finally:
    # A few seconds after the page is drawn: import torch once per process, warm up UMAP.
    app_state.warm_up_later()
