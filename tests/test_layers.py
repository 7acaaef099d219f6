"""The layer rule of DESIGN §1: imports only go downward.

Every module of the package is parsed (not imported) and each ``import`` is checked against
the table. A module's level comes from its path; level-1 codecs may not import each other nor
anything that does I/O or reads the clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netlinkbgp"

LEVELS: dict[str, int] = {
    "netlinkbgp": 4,  # __init__ re-exports the public API from every level
    "netlinkbgp.__main__": 4,
    "netlinkbgp.errors": 0,
    "netlinkbgp.route": 0,
    "netlinkbgp.codec": 1,
    "netlinkbgp.bgp": 1,
    "netlinkbgp.netlink_io": 2,
    "netlinkbgp.aio": 2,  # asyncio helpers the components share
    "netlinkbgp.bgp_io": 2,
    "netlinkbgp.importer": 3,
    "netlinkbgp.exporter": 3,
    # Pure helpers of the exporter (no I/O): below it so that it may import them.
    "netlinkbgp.nexthop_cache": 2,
    "netlinkbgp.export_config": 2,
    "netlinkbgp.export_io": 2,
    "netlinkbgp.export_tracking": 2,
    # Pure helper of the speaker: its configuration and status values.
    "netlinkbgp.speaker_config": 2,
    "netlinkbgp.speaker": 3,
    "netlinkbgp.sync": 4,  # a facade over the components, like testing
    "netlinkbgp.config": 4,
    "netlinkbgp.config_locate": 4,  # the TOML key locator and typed reader of config
    "netlinkbgp.daemon": 4,
    "netlinkbgp.control": 4,
    "netlinkbgp.metrics": 4,
    "netlinkbgp.cli_daemon": 4,
    "netlinkbgp.cli": 4,
    "netlinkbgp.cli_route": 4,
    "netlinkbgp.cli_announce": 4,
    "netlinkbgp.demo": 4,
    "netlinkbgp.testing": 4,
}

#: Standard-library modules level-1 code must not touch: I/O, concurrency and the clock.
FORBIDDEN_IN_CODECS = {"asyncio", "socket", "time", "threading", "selectors", "logging.config"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def level_of(name: str) -> tuple[int, str]:
    """The level of a module and the unit it belongs to (``netlinkbgp.codec`` for its files)."""
    for prefix in sorted(LEVELS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return LEVELS[prefix], prefix
    raise AssertionError(f"{name} is not in the layer table of DESIGN §1; add it")


def imports_of(path: Path, name: str | None = None) -> list[tuple[int, str]]:
    """Every import in a file as (line, absolute dotted target); ``name`` is the file's module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
    return found


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_imports_go_downward(path: Path) -> None:
    name = module_name(path)
    level, unit = level_of(name)
    for lineno, target in imports_of(path):
        where = f"{path.relative_to(PACKAGE.parent)}:{lineno} imports {target}"
        if target.split(".")[0] == "netlinkbgp":
            if target == "netlinkbgp" and level < 4:
                raise AssertionError(f"{where}: import the defining module, not the package")
            their_level, their_unit = level_of(target)
            if their_unit == unit or target == "netlinkbgp.errors":
                continue  # within one unit, and the exception tree is below everything
            assert their_level < level or (level == 4 and their_level <= 4), (
                f"{where}: level {level} may not import level {their_level}"
            )
            if level == 1:
                assert their_level == 0, f"{where}: codecs never import each other"
        elif level <= 1:
            assert target.split(".")[0] not in FORBIDDEN_IN_CODECS, (
                f"{where}: level {level} must stay free of I/O and clocks"
            )


def test_every_module_is_classified() -> None:
    for path in all_modules():
        level_of(module_name(path))


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    """The scan sees relative and absolute imports, so a violation cannot slip through."""
    bad = tmp_path / "bad.py"
    bad.write_text("import socket\nfrom ..bgp import messages\n")
    targets = [t for _, t in imports_of(bad, "netlinkbgp.codec.bad")]
    assert targets == ["socket", "netlinkbgp.bgp"]
