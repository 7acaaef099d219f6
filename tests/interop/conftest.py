"""Fixtures for the interop tests: real BIRD 2 and GoBGP in named network namespaces.

They need root (``ip netns add``), iproute2 and the daemons. Without them the tests are
skipped, except under ``CI=true``, where anything missing fails the run instead of hiding it
(the same rule as the ``netns`` fixture in ``tests/conftest.py``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest


def _require(problem: str | None, what: str) -> None:
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true: {problem}")
    pytest.skip(f"{what} unavailable: {problem}")


@functools.cache
def _named_netns_problem() -> str | None:
    if os.geteuid() != 0:
        return "not root (named network namespaces need `ip netns add` as root)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"`ip netns list` failed: {done.stderr.strip()}"
    if shutil.which("sysctl") is None:
        return "`sysctl` (procps) is not installed"
    return None


def _binaries_problem(*names: str) -> str | None:
    missing = [name for name in names if shutil.which(name) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


@pytest.fixture
def named_netns() -> None:
    """Require root and ``ip netns`` (skip without; fail under CI=true)."""
    _require(_named_netns_problem(), "named network namespaces")


@pytest.fixture
def bird_available(named_netns: None) -> None:
    """Require BIRD 2 (``bird``, ``birdc``) and named namespaces."""
    _require(_binaries_problem("bird", "birdc"), "BIRD 2")


@pytest.fixture
def gobgp_available(named_netns: None) -> None:
    """Require GoBGP (``gobgpd``, ``gobgp``) and named namespaces."""
    _require(_binaries_problem("gobgpd", "gobgp"), "GoBGP")


@pytest.fixture
def daemons(bird_available: None, gobgp_available: None) -> None:
    """Require both daemons and named namespaces."""
