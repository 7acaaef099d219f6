"""The Exporter's own I/O: a socket filter for its event socket, and its state file.

Both sit below the Exporter (level 2) so that it may import them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import socket
import struct

from netlinkbgp.codec.constants import RtmType

__all__ = ["attach_own_route_filter", "load_state", "save_state"]

_NEW = int(RtmType.RTM_NEWROUTE)
_DEL = int(RtmType.RTM_DELROUTE)

#: SO_ATTACH_FILTER (asm-generic/socket.h); classic BPF opcodes (linux/filter.h).
_SO_ATTACH_FILTER = 26
_BPF_LDH_ABS, _BPF_LDB_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x28, 0x30, 0x15, 0x06


def attach_own_route_filter(sock_fd: int, protocol: int) -> bool:
    """Drop route events of our own protocol in the kernel (we know what we installed; 100k
    installs must not come back as 100k events to decode). Best effort: returns success."""
    # nlmsg_type is host-endian; BPF loads are big-endian: compare with the swapped value.
    new, delete = (struct.unpack("!H", struct.pack("=H", t))[0] for t in (_NEW, _DEL))
    program = [
        (_BPF_LDH_ABS, 0, 0, 4),  # nlmsghdr.nlmsg_type
        (_BPF_JEQ_K, 1, 0, new),
        (_BPF_JEQ_K, 0, 2, delete),
        (_BPF_LDB_ABS, 0, 0, 16 + 5),  # rtmsg.rtm_protocol
        (_BPF_JEQ_K, 1, 0, protocol),
        (_BPF_RET_K, 0, 0, 0xFFFFFFFF),  # keep
        (_BPF_RET_K, 0, 0, 0),  # drop
    ]
    code = b"".join(struct.pack("=HBBI", *op) for op in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("=HxxxxxxQ", len(program), ctypes.addressof(buffer))
    try:
        with socket.fromfd(sock_fd, socket.AF_NETLINK, socket.SOCK_RAW) as dup:
            dup.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def load_state(path: str) -> set[tuple[int, str, int]]:
    """The routes recorded in a state file, as (table, prefix text, metric).

    Returns:
        The set; empty when the file does not exist yet.

    Raises:
        ValueError: the file cannot be read or is not a state file (the message names it).
    """
    try:
        with open(path) as handle:
            data = json.load(handle)
        return {(int(t), str(p), int(m)) for t, p, m in data["routes"]}
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"state file {path}: {exc}") from exc


def save_state(path: str, protocol: int, routes: list[tuple[int, str, int]]) -> None:
    """Record installed routes, atomically: a temporary file in the same directory, flushed
    to disk, then renamed over the old one (a reader sees the old or the new file, never half).

    Raises:
        OSError: the file cannot be written.
    """
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "w") as handle:
            json.dump({"protocol": protocol, "routes": [list(r) for r in routes]}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
