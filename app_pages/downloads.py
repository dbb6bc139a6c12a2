"""Placeholder while the engine lands."""
import streamlit as st

from app import auth
from app.i18n import t
from app.ui import lang

auth.require("downloads", lang())
st.title(t("page_downloads", lang()))
