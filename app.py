"""EOS Explorer — Streamlit entry point (router only).

    streamlit run app.py

Pages live in ``app_pages/`` — deliberately not ``pages/``: with a ``pages/`` folder Streamlit
falls back to its legacy multipage mode for a deep link (``/gap``) opened before the first run of
this script in a process, skipping ``st.navigation`` and the page config. Shared state, caches and
background jobs live in ``app_state``.
"""

import streamlit as st

import app_state

st.set_page_config(page_title="EOS Explorer", page_icon="🔭", layout="wide")

pages = [
    st.Page("app_pages/1_Setup_and_train.py", title="Setup & train", icon="🏋️", url_path="setup", default=True),
    st.Page("app_pages/2_Embedding_gap.py", title="Embedding gap", icon="🗺️", url_path="gap"),
    st.Page("app_pages/3_Synthetic_inspector.py", title="Synthetic inspector", icon="🧬", url_path="synthetic"),
    st.Page("app_pages/4_Head_accuracy.py", title="Head accuracy", icon="📊", url_path="heads"),
]
page = st.navigation(pages)
app_state.sync_session()
app_state.sidebar_status()
try:
    page.run()
finally:
    # After the page is drawn: import torch once per process and warm up UMAP in the background.
    app_state.warm_up()
