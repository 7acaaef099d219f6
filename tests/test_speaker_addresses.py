"""Socket addresses as peer keys (no sockets needed)."""

from __future__ import annotations

import pytest

from netlinkbgp.speaker.peer import unmapped_address


@pytest.mark.parametrize(("text", "key"), [
    # A v4 peer on a dual-stack listener; Python 3.11 prints this ::ffff:a4d:1.
    ("::ffff:10.77.0.1", "10.77.0.1"),
    ("::FFFF:a4d:1", "10.77.0.1"),
    ("10.77.0.1", "10.77.0.1"),
    ("fd00:77::1", "fd00:77::1"),
    ("fe80::1%nlbi-o0", "fe80::1"),
    ("::ffff:0:a4d:1", "::ffff:0:a4d:1"),  # IPv4-translated (RFC 2765) is not mapped
])
def test_unmapped_address(text: str, key: str) -> None:
    assert unmapped_address(text) == key
