"""EOS Explorer — Streamlit entry point (router only).

    streamlit run app.py

Pages live in ``pages/``; shared state, caches and background jobs in ``app_state``.
"""

import streamlit as st

import app_state

st.set_page_config(page_title="EOS Explorer", page_icon="🔭", layout="wide")

pages = [
    st.Page("pages/1_Setup_and_train.py", title="Setup & train", icon="🏋️", default=True),
    st.Page("pages/2_Embedding_gap.py", title="Embedding gap", icon="🗺️"),
    st.Page("pages/3_Synthetic_inspector.py", title="Synthetic inspector", icon="🧬"),
    st.Page("pages/4_Head_accuracy.py", title="Head accuracy", icon="📊"),
]
page = st.navigation(pages)
app_state.sync_session()
app_state.sidebar_status()
try:
    page.run()
finally:
    # After the page is drawn: import torch once per process and warm up UMAP in the background.
    app_state.warm_up()
