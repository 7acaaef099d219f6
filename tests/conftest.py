"""Shared test configuration.

Kernel tests run in private network namespaces (``netlinkbgp.testing.run_in_netns``). Where
namespaces cannot be created they are skipped, except under ``CI=true``, where a missing
capability fails the run instead of hiding it.
"""

from __future__ import annotations

import functools
import os
import shutil

import pytest

from netlinkbgp import testing


@functools.cache
def _netns_problem() -> str | None:
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    return testing.netns_available()


@pytest.fixture
def netns() -> None:
    """Require network namespaces (skip without them; fail under CI=true)."""
    problem = _netns_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"network namespaces are required under CI=true: {problem}")
        pytest.skip(f"network namespaces unavailable: {problem}")
