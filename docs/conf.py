"""Sphinx configuration for the netlinkbgp documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "netlinkbgp"
author = "netlinkbgp developers"
copyright = "2026, netlinkbgp developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
napoleon_use_ivar = True
