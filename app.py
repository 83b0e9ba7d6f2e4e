"""EOS Explorer — Streamlit entry point (router only).

    streamlit run app.py

Every request runs this script: ``st.navigation`` with an explicit ``st.Page`` list picks the
page from the URL (``/gap`` is *Embedding gap*, also as the first request after a server start)
and draws it under this script's page config and sidebar. The page scripts live in
``app_pages/``, not ``pages/``: a folder named ``pages`` beside the main script switches
Streamlit to its legacy multipage mode, which runs a deep-linked page script alone, without this
router (see ARCHITECTURE.md, "The app"). Shared state, caches and jobs live in the ``ui`` package.
"""

import streamlit as st

from eos_core.errors import DamagedRun
from ui import state, warmup, widgets

st.set_page_config(page_title="EOS Explorer", page_icon="🔭", layout="wide")

pages = [
    st.Page("app_pages/1_setup.py", title="Setup & train", icon="🏋️", url_path="setup", default=True),
    st.Page("app_pages/2_gap.py", title="Embedding gap", icon="🗺️", url_path="gap"),
    st.Page("app_pages/3_synthetic.py", title="Synthetic inspector", icon="🧬", url_path="synthetic"),
    st.Page("app_pages/4_heads.py", title="Head accuracy", icon="📊", url_path="heads"),
    st.Page("app_pages/5_study.py", title="Ratio study", icon="📈", url_path="study"),
]
page = st.navigation(pages)
state.sync_session()
widgets.sidebar_status()
widgets.lost_job_banner()  # after a server restart: the job in the URL is gone; say what it kept
try:
    page.run()
except DamagedRun as err:  # a damaged run: one sentence naming it and `python -m eos_core repair`
    widgets.show_error(err)
finally:
    # A few seconds after the page is drawn: import torch once per process, compile UMAP.
    warmup.warm_up_later()
