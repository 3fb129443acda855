"""The pages of the dashboard, built from absolute paths (works from any working directory)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = PROJECT_ROOT / "pages"
# name -> (file, title, Material icon)
PAGE_SPECS: dict[str, tuple[str, str, str]] = {
    "home": ("home.py", "Home", ":material/home:"),
    "train": ("train.py", "Train", ":material/model_training:"),
    "models": ("models.py", "Models", ":material/inventory_2:"),
    "predict": ("predict.py", "Predict", ":material/swords:"),
}


def page(name: str) -> st.Page:
    """The st.Page for a page name (the same object st.navigation registers)."""
    filename, title, icon = PAGE_SPECS[name]
    return st.Page(
        PAGES_DIR / filename, title=title, icon=icon, url_path=name, default=name == "home"
    )


def all_pages() -> list[st.Page]:
    """Every page, in the order of the menu."""
    return [page(name) for name in PAGE_SPECS]
