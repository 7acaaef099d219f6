"""Fixtures for the end-to-end tests: the interop ones (root, ``ip netns``, BIRD 2, GoBGP;
skipped without them, failed under ``CI=true``), shared here."""

from __future__ import annotations

from tests.interop.conftest import bird_available, daemons, gobgp_available, named_netns

__all__ = ["bird_available", "daemons", "gobgp_available", "named_netns"]
