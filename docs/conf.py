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


def _render_fsm(app: object) -> None:
    """Write docs/_generated/fsm.rst: the session FSM table, from the code itself."""
    from netlinkbgp.bgp.session import TRANSITIONS, Input, State

    out = Path(__file__).resolve().parent / "_generated"
    out.mkdir(exist_ok=True)
    lines = [".. list-table:: Session transitions (rendered from ``TRANSITIONS``)",
             "   :header-rows: 1", "", "   * - state", "     - input", "     - action"]
    for state in State:
        for what in Input:
            action = TRANSITIONS.get((state, what))
            if action is None or action.__name__ == "_ignore":
                continue
            lines += [f"   * - {state.value}", f"     - {what.name} ({int(what)})",
                      f"     - ``{action.__name__.lstrip('_')}``"]
    (out / "fsm.rst").write_text("\n".join(lines) + "\n")


def setup(app: object) -> None:
    app.connect("builder-inited", _render_fsm)  # type: ignore[attr-defined]
