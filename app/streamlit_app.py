"""PaMM Lab dashboard: ``streamlit run app/streamlit_app.py`` (or ``pamm demo``).

Only declares the pages; each page lives in ``app/views/`` and reads the analysis
run through ``app.loaders``.
"""

import streamlit as st

from app.prefetch import start_prefetch

st.set_page_config(page_title="PaMM Lab", page_icon=":material/memory:", layout="wide")
PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/motifs.py", title="Motif browser", icon=":material/category:"),
    st.Page("views/buckets.py", title="Bucket inspector", icon=":material/grid_view:"),
    st.Page("views/environment.py", title="Environment viewer", icon=":material/view_in_ar:"),
    st.Page("views/families.py", title="Family comparison", icon=":material/compare:"),
    st.Page("views/profiles.py", title="Motif profiles", icon=":material/bar_chart:"),
    st.Page("views/embedding.py", title="Embedding map", icon=":material/scatter_plot:"),
    st.Page("views/try_structure.py", title="Try a structure", icon=":material/upload_file:"),
    st.Page("views/interventions.py", title="Interventions", icon=":material/science:"),
]
st.navigation(PAGES).run()

start_prefetch()  # heavy imports in the background, once the first page has run
