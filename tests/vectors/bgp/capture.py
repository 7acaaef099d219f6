#!/usr/bin/env python3
"""Capture real BGP messages from BIRD 2 and GoBGP and write them as test vectors.

This is standalone test tooling: standard library only, and deliberately independent of the
``netlinkbgp`` codec.  It must run as root on Linux with ``ip``, ``bird``/``birdc`` and
``gobgpd``/``gobgp`` installed.

What it does, per scenario:

1. Creates two network namespaces joined by a veth pair::

       nlbcap-d (daemon side)                 nlbcap-p (our side)
       nlbcap-d0  192.0.2.1/24                nlbcap-p0  192.0.2.2/24
                  2001:db8::1/64                         2001:db8::2/64
                  fe80::1/64 (link-local)                fe80::2/64

   Automatic link-local addresses are disabled and DAD is skipped so the link-local next hop
   BIRD sends is the deterministic ``fe80::1``.
2. Writes a daemon config, starts the daemon inside ``nlbcap-d`` (configured *passive*, so
   only we open the TCP connection) and runs the scenario's CLI commands (e.g. ``gobgp global
   rib add ...``).
3. Acts as a minimal BGP speaker from ``nlbcap-p``: connects to port 179, sends a hand-built
   OPEN (capabilities chosen by the scenario), answers with KEEPALIVEs and records every raw
   message the daemon sends (header included) until End-of-RIB has been seen for every
   negotiated family (or a timeout).  Some scenarios then run more commands (withdrawals) and
   record again until the session has been idle for a while.
4. Decodes every message with the small independent decoder below, cross-checks the
   announced routes against what the daemon was configured to send and against the
   daemon's own view (``birdc show route export ...`` / ``gobgp global rib -j``), and writes
   one JSON vector per message (KEEPALIVEs are not written).

Usage::

    python3 tests/vectors/bgp/capture.py --all
    python3 tests/vectors/bgp/capture.py bird_ipv4_ebgp gobgp_vpn
    python3 tests/vectors/bgp/capture.py --list

Vectors are written next to this script; see README.md in the same directory.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import ipaddress
import json
import os
import platform
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent

NS_DAEMON = "nlbcap-d"
NS_PEER = "nlbcap-p"
IF_DAEMON = "nlbcap-d0"
IF_PEER = "nlbcap-p0"
DAEMON_V4 = "192.0.2.1"
PEER_V4 = "192.0.2.2"
DAEMON_V6 = "2001:db8::1"
PEER_V6 = "2001:db8::2"
DAEMON_LL = "fe80::1"
PEER_LL = "fe80::2"

AS_TRANS = 23456

# --------------------------------------------------------------------------------------------
# Names used in the "expected" values.  They follow the IANA registries.
# --------------------------------------------------------------------------------------------

MSG_TYPES = {1: "open", 2: "update", 3: "notification", 4: "keepalive", 5: "route_refresh"}
AFI_NAMES = {1: "ipv4", 2: "ipv6", 25: "l2vpn"}
SAFI_NAMES = {
    1: "unicast",
    2: "multicast",
    4: "labeled_unicast",
    70: "evpn",
    128: "mpls_vpn",
    133: "flowspec",
    134: "flowspec_vpn",
}
AFI_NUM = {v: k for k, v in AFI_NAMES.items()}
SAFI_NUM = {v: k for k, v in SAFI_NAMES.items()}
CAP_NAMES = {
    1: "multiprotocol",
    2: "route_refresh",
    5: "extended_nexthop",
    6: "extended_message",
    9: "bgp_role",
    64: "graceful_restart",
    65: "as4",
    69: "add_path",
    70: "enhanced_route_refresh",
    71: "long_lived_graceful_restart",
    73: "fqdn",
    128: "route_refresh_cisco",
}
ORIGINS = {0: "igp", 1: "egp", 2: "incomplete"}
SEGMENT_TYPES = {1: "set", 2: "sequence", 3: "confed_sequence", 4: "confed_set"}
ADD_PATH_MODES = {1: "receive", 2: "send", 3: "both"}
NOTIFICATION_CODES = {
    1: "message_header_error",
    2: "open_message_error",
    3: "update_message_error",
    4: "hold_timer_expired",
    5: "fsm_error",
    6: "cease",
    7: "route_refresh_message_error",
}


def fam_name(afi: int, safi: int) -> str:
    return f"{AFI_NAMES.get(afi, str(afi))}/{SAFI_NAMES.get(safi, str(safi))}"


# --------------------------------------------------------------------------------------------
# Building our own messages (only what a minimal peer needs: OPEN, KEEPALIVE, NOTIFICATION).
# --------------------------------------------------------------------------------------------

MARKER = b"\xff" * 16


def bgp_message(msg_type: int, body: bytes) -> bytes:
    """Prefix a body with the 19-byte header (marker, length, type)."""
    return MARKER + struct.pack("!HB", 19 + len(body), msg_type) + body


def cap(code: int, value: bytes = b"") -> bytes:
    """One capability TLV (RFC 5492)."""
    return struct.pack("!BB", code, len(value)) + value


def cap_mp(afi: str, safi: str) -> bytes:
    return cap(1, struct.pack("!HBB", AFI_NUM[afi], 0, SAFI_NUM[safi]))


def cap_as4(asn: int) -> bytes:
    return cap(65, struct.pack("!I", asn))


def cap_add_path(*fams: tuple[str, str, int]) -> bytes:
    """ADD-PATH (RFC 7911): (afi, safi, mode) with mode 1 receive, 2 send, 3 both."""
    return cap(69, b"".join(struct.pack("!HBB", AFI_NUM[a], SAFI_NUM[s], m) for a, s, m in fams))


def cap_ext_nh(*fams: tuple[str, str, str]) -> bytes:
    """Extended next hop (RFC 8950): (nlri afi, nlri safi, next-hop afi)."""
    return cap(
        5, b"".join(struct.pack("!HHH", AFI_NUM[a], SAFI_NUM[s], AFI_NUM[n]) for a, s, n in fams)
    )


def cap_graceful_restart(restart_time: int, *fams: tuple[str, str]) -> bytes:
    """Graceful restart (RFC 4724): restart time 12 bits, families with F bit set."""
    body = struct.pack("!H", restart_time & 0x0FFF)
    body += b"".join(struct.pack("!HBB", AFI_NUM[a], SAFI_NUM[s], 0x80) for a, s in fams)
    return cap(64, body)


def build_open(asn: int, hold: int, bgp_id: str, caps: list[bytes]) -> bytes:
    """OPEN (RFC 4271 4.2); all capabilities in one optional parameter of type 2."""
    params = b""
    if caps:
        caps_blob = b"".join(caps)
        params = struct.pack("!BB", 2, len(caps_blob)) + caps_blob
    my_as = asn if asn <= 0xFFFF else AS_TRANS
    body = struct.pack("!BHH4sB", 4, my_as, hold, socket.inet_aton(bgp_id), len(params)) + params
    return bgp_message(1, body)


KEEPALIVE = bgp_message(4, b"")


# --------------------------------------------------------------------------------------------
# The independent decoder.  Written from the RFCs, returns plain JSON-able values.
# --------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a receiver needs to know to decode an UPDATE from this session."""

    asn4: bool = True
    add_path_receive: list[list[str]] = field(default_factory=list)  # [["ipv4", "unicast"]]
    extended_nexthop: list[list[str]] = field(default_factory=list)  # [["ipv4","unicast","ipv6"]]
    extended_message: bool = False

    def add_path(self, afi: int, safi: int) -> bool:
        return [AFI_NAMES.get(afi), SAFI_NAMES.get(safi)] in self.add_path_receive


def decode_capability(code: int, v: bytes) -> Any:
    """Decode one capability value into something readable."""
    if code == 1:
        afi, _res, safi = struct.unpack("!HBB", v)
        return {"afi": AFI_NAMES.get(afi, afi), "safi": SAFI_NAMES.get(safi, safi)}
    if code in (2, 6, 70, 128):
        return None  # no value
    if code == 65:
        return struct.unpack("!I", v)[0]
    if code == 69:
        out = []
        for i in range(0, len(v), 4):
            afi, safi, mode = struct.unpack_from("!HBB", v, i)
            out.append(
                {
                    "afi": AFI_NAMES.get(afi, afi),
                    "safi": SAFI_NAMES.get(safi, safi),
                    "mode": ADD_PATH_MODES.get(mode, mode),
                }
            )
        return out
    if code == 5:
        out = []
        for i in range(0, len(v), 6):
            afi, safi, nh = struct.unpack_from("!HHH", v, i)
            out.append(
                {
                    "afi": AFI_NAMES.get(afi, afi),
                    "safi": SAFI_NAMES.get(safi, safi),
                    "nexthop_afi": AFI_NAMES.get(nh, nh),
                }
            )
        return out
    if code == 64:
        (word,) = struct.unpack_from("!H", v, 0)
        fams = []
        for i in range(2, len(v), 4):
            afi, safi, flags = struct.unpack_from("!HBB", v, i)
            fams.append(
                {
                    "afi": AFI_NAMES.get(afi, afi),
                    "safi": SAFI_NAMES.get(safi, safi),
                    "forwarding_preserved": bool(flags & 0x80),
                }
            )
        return {"restart_flags": word >> 12, "restart_time": word & 0x0FFF, "families": fams}
    if code == 71:
        out = []
        for i in range(0, len(v), 7):
            afi, safi, flags = struct.unpack_from("!HBB", v, i)
            stale = int.from_bytes(v[i + 4 : i + 7], "big")
            out.append(
                {
                    "afi": AFI_NAMES.get(afi, afi),
                    "safi": SAFI_NAMES.get(safi, safi),
                    "flags": flags,
                    "stale_time": stale,
                }
            )
        return out
    if code == 73:
        hl = v[0]
        host = v[1 : 1 + hl].decode()
        dl = v[1 + hl]
        return {"hostname": host, "domain": v[2 + hl : 2 + hl + dl].decode()}
    if code == 9:
        return v[0]
    return v.hex()


def decode_open(body: bytes) -> dict[str, Any]:
    version, my_as, hold, bgp_id, opt_len = struct.unpack_from("!BHH4sB", body, 0)
    params = body[10 : 10 + opt_len]
    caps: list[dict[str, Any]] = []
    other_params: list[dict[str, Any]] = []
    i = 0
    while i < len(params):
        ptype, plen = params[i], params[i + 1]
        pval = params[i + 2 : i + 2 + plen]
        i += 2 + plen
        if ptype != 2:
            other_params.append({"type": ptype, "hex": pval.hex()})
            continue
        j = 0
        while j < len(pval):
            code, clen = pval[j], pval[j + 1]
            cval = pval[j + 2 : j + 2 + clen]
            j += 2 + clen
            caps.append(
                {
                    "code": code,
                    "name": CAP_NAMES.get(code, f"unknown_{code}"),
                    "value": decode_capability(code, cval),
                }
            )
    out = {
        "type": "open",
        "version": version,
        "asn": my_as,  # the 2-byte "My Autonomous System" field as sent
        "hold_time": hold,
        "bgp_id": socket.inet_ntoa(bgp_id),
        "capabilities": caps,
    }
    if other_params:
        out["other_parameters"] = other_params
    return out


def decode_rd(rd: bytes) -> str:
    """Route distinguisher (RFC 4364 4.2): type 0 asn2:n32, type 1 ip:n16, type 2 asn4:n16."""
    (rtype,) = struct.unpack_from("!H", rd, 0)
    if rtype == 0:
        a, n = struct.unpack_from("!HI", rd, 2)
        return f"{a}:{n}"
    if rtype == 1:
        ip, n = struct.unpack_from("!4sH", rd, 2)
        return f"{socket.inet_ntoa(ip)}:{n}"
    if rtype == 2:
        a, n = struct.unpack_from("!IH", rd, 2)
        return f"{a}:{n}"
    return "raw:" + rd.hex()


def decode_prefixes(
    data: bytes, afi: int, safi: int, addpath: bool, withdraw: bool
) -> list[dict[str, Any]]:
    """A run of NLRI (RFC 4271 4.3, RFC 4760 5, RFC 8277 2, RFC 4364 4.3.4, RFC 7911 3)."""
    out: list[dict[str, Any]] = []
    alen = 4 if afi == 1 else 16
    i = 0
    while i < len(data):
        entry: dict[str, Any] = {}
        path_id = None
        if addpath:
            (path_id,) = struct.unpack_from("!I", data, i)
            i += 4
        bits = data[i]
        i += 1
        labels: list[int] | None = None
        rd = None
        if safi in (4, 128):  # labeled: stack of 3-byte labels, S bit ends it
            labels = []
            while True:
                raw = int.from_bytes(data[i : i + 3], "big")
                i += 3
                bits -= 24
                labels.append(raw >> 4)
                # RFC 8277 2.4: a withdrawal may carry 0x800000 (or 0x000000): one "label".
                if raw & 1 or (withdraw and raw in (0x800000, 0x000000)):
                    break
            if safi == 128:
                rd = decode_rd(data[i : i + 8])
                i += 8
                bits -= 64
        nbytes = (bits + 7) // 8
        addr = data[i : i + nbytes] + b"\x00" * (alen - nbytes)
        i += nbytes
        net = ipaddress.ip_network((addr, bits), strict=False)
        entry["prefix"] = str(net)
        if rd is not None:
            entry["rd"] = rd
        if labels is not None:
            entry["labels"] = labels
        entry["path_id"] = path_id
        out.append(entry)
    return out


def decode_next_hops(afi: int, safi: int, nh: bytes) -> list[str]:
    """MP_REACH next hop field: 4/16/32 bytes, or RD(8, zero) + address for VPN."""
    addrs: list[str] = []
    chunks: list[bytes]
    if safi == 128:  # VPN next hops carry an RD (always zero) in front of each address
        if len(nh) in (12, 24):
            chunks = [nh[8:]]
        elif len(nh) == 48:
            chunks = [nh[8:24], nh[32:48]]
        else:
            return ["raw:" + nh.hex()]
    elif len(nh) == 32:
        chunks = [nh[:16], nh[16:]]
    else:
        chunks = [nh]
    for c in chunks:
        if len(c) == 4:
            addrs.append(socket.inet_ntop(socket.AF_INET, c))
        elif len(c) == 16:
            addrs.append(socket.inet_ntop(socket.AF_INET6, c))
        else:
            addrs.append("raw:" + c.hex())
    return addrs


def decode_ext_community(v: bytes) -> str:
    """Extended community (RFC 4360, 5668) as 'rt:a:b', 'soo:a:b' or 'raw:<hex>'."""
    typ, sub = v[0], v[1]
    kinds = {2: "rt", 3: "soo"}
    if typ in (0x00, 0x40) and sub in kinds:
        a, n = struct.unpack("!HI", v[2:])
        return f"{kinds[sub]}:{a}:{n}"
    if typ in (0x01, 0x41) and sub in kinds:
        return f"{kinds[sub]}:{socket.inet_ntoa(v[2:6])}:{struct.unpack('!H', v[6:])[0]}"
    if typ in (0x02, 0x42) and sub in kinds:
        a, n = struct.unpack("!IH", v[2:])
        return f"{kinds[sub]}:{a}:{n}"
    return "raw:" + v.hex()


def decode_as_path(v: bytes, asn_size: int) -> list[list[Any]]:
    segs = []
    i = 0
    fmt = "!H" if asn_size == 2 else "!I"
    while i < len(v):
        stype, count = v[i], v[i + 1]
        i += 2
        asns = [struct.unpack_from(fmt, v, i + k * asn_size)[0] for k in range(count)]
        i += count * asn_size
        segs.append([SEGMENT_TYPES.get(stype, str(stype)), asns])
    return segs


def decode_update(body: bytes, ctx: Ctx) -> dict[str, Any]:
    """UPDATE (RFC 4271 4.3) with the attributes we care about; others go to 'unknown'."""
    (wlen,) = struct.unpack_from("!H", body, 0)
    withdrawn_raw = body[2 : 2 + wlen]
    (alen,) = struct.unpack_from("!H", body, 2 + wlen)
    attrs_raw = body[4 + wlen : 4 + wlen + alen]
    nlri_raw = body[4 + wlen + alen :]
    ap4 = ctx.add_path(1, 1)
    attrs: dict[str, Any] = {
        "origin": None,
        "as_path": None,
        "next_hop": None,
        "med": None,
        "local_pref": None,
        "communities": [],
        "large_communities": [],
        "ext_communities": [],
        "mp_reach": None,
        "mp_unreach": None,
        "as4_path": None,
        "unknown": [],
    }
    flags_list = []
    i = 0
    while i < len(attrs_raw):
        flags, code = attrs_raw[i], attrs_raw[i + 1]
        if flags & 0x10:  # extended length
            (length,) = struct.unpack_from("!H", attrs_raw, i + 2)
            i += 4
        else:
            length = attrs_raw[i + 2]
            i += 3
        v = attrs_raw[i : i + length]
        i += length
        flags_list.append([code, flags])
        if code == 1:
            attrs["origin"] = ORIGINS.get(v[0], v[0])
        elif code == 2:
            attrs["as_path"] = decode_as_path(v, 4 if ctx.asn4 else 2)
        elif code == 3:
            attrs["next_hop"] = socket.inet_ntoa(v)
        elif code == 4:
            attrs["med"] = struct.unpack("!I", v)[0]
        elif code == 5:
            attrs["local_pref"] = struct.unpack("!I", v)[0]
        elif code == 6:
            attrs["atomic_aggregate"] = True
        elif code == 7:
            asn_size = 4 if len(v) == 8 else 2
            asn = int.from_bytes(v[:asn_size], "big")
            attrs["aggregator"] = [asn, socket.inet_ntoa(v[asn_size:])]
        elif code == 8:
            attrs["communities"] = [
                f"{v[k] << 8 | v[k + 1]}:{v[k + 2] << 8 | v[k + 3]}" for k in range(0, len(v), 4)
            ]
        elif code == 9:
            attrs["originator_id"] = socket.inet_ntoa(v)
        elif code == 10:
            attrs["cluster_list"] = [socket.inet_ntoa(v[k : k + 4]) for k in range(0, len(v), 4)]
        elif code == 14:
            afi, safi, nhlen = struct.unpack_from("!HBB", v, 0)
            nh = v[4 : 4 + nhlen]
            # one reserved byte (formerly the SNPA count) follows the next hop
            nlri = v[5 + nhlen :]
            attrs["mp_reach"] = {
                "afi": AFI_NAMES.get(afi, afi),
                "safi": SAFI_NAMES.get(safi, safi),
                "next_hops": decode_next_hops(afi, safi, nh),
                "next_hop_hex": nh.hex(),
                "nlri": decode_prefixes(nlri, afi, safi, ctx.add_path(afi, safi), False),
            }
        elif code == 15:
            afi, safi = struct.unpack_from("!HB", v, 0)
            attrs["mp_unreach"] = {
                "afi": AFI_NAMES.get(afi, afi),
                "safi": SAFI_NAMES.get(safi, safi),
                "withdrawn": decode_prefixes(v[3:], afi, safi, ctx.add_path(afi, safi), True),
            }
        elif code == 16:
            attrs["ext_communities"] = [
                decode_ext_community(v[k : k + 8]) for k in range(0, len(v), 8)
            ]
        elif code == 17:
            attrs["as4_path"] = decode_as_path(v, 4)
        elif code == 18:
            attrs["as4_aggregator"] = [struct.unpack("!I", v[:4])[0], socket.inet_ntoa(v[4:])]
        elif code == 32:
            attrs["large_communities"] = [
                ":".join(str(x) for x in struct.unpack_from("!III", v, k))
                for k in range(0, len(v), 12)
            ]
        else:
            attrs["unknown"].append({"code": code, "flags": flags, "hex": v.hex()})
    out: dict[str, Any] = {
        "type": "update",
        "withdrawn": decode_prefixes(withdrawn_raw, 1, 1, ap4, True),
        "attributes": attrs,
        "nlri": decode_prefixes(nlri_raw, 1, 1, ap4, False),
        # extra: attribute order and flags as sent, for byte-exact re-encoding tests
        "attribute_flags": flags_list,
        "end_of_rib": None,
    }
    # End-of-RIB (RFC 4724 2): empty UPDATE for IPv4 unicast, else a bare MP_UNREACH
    if not withdrawn_raw and not attrs_raw and not nlri_raw:
        out["end_of_rib"] = "ipv4/unicast"
    elif (
        not withdrawn_raw
        and not nlri_raw
        and [c for c, _ in flags_list] == [15]
        and not attrs["mp_unreach"]["withdrawn"]
    ):
        out["end_of_rib"] = f"{attrs['mp_unreach']['afi']}/{attrs['mp_unreach']['safi']}"
    return out


def decode_message(msg: bytes, ctx: Ctx) -> dict[str, Any]:
    """Decode one whole message, header included."""
    assert msg[:16] == MARKER, "bad marker"
    length, mtype = struct.unpack_from("!HB", msg, 16)
    assert length == len(msg), "length mismatch"
    body = msg[19:]
    if mtype == 1:
        return decode_open(body)
    if mtype == 2:
        return decode_update(body, ctx)
    if mtype == 3:
        return {
            "type": "notification",
            "code": body[0],
            "subcode": body[1],
            "code_name": NOTIFICATION_CODES.get(body[0], str(body[0])),
            "data": body[2:].hex(),
        }
    if mtype == 4:
        return {"type": "keepalive"}
    if mtype == 5:
        afi, sub, safi = struct.unpack("!HBB", body)
        return {
            "type": "route_refresh",
            "afi": AFI_NAMES.get(afi, afi),
            "subtype": sub,
            "safi": SAFI_NAMES.get(safi, safi),
        }
    return {"type": f"unknown_{mtype}", "hex": body.hex()}


def negotiate(ours: dict[str, Any], theirs: dict[str, Any]) -> Ctx:
    """The decoding context for messages *we receive*, from both decoded OPENs."""

    def caps(o: dict[str, Any], code: int) -> list[Any]:
        return [c["value"] for c in o["capabilities"] if c["code"] == code]

    ctx = Ctx()
    ctx.asn4 = bool(caps(ours, 65) and caps(theirs, 65))
    our_ap = {(e["afi"], e["safi"]): e["mode"] for v in caps(ours, 69) for e in v}
    their_ap = {(e["afi"], e["safi"]): e["mode"] for v in caps(theirs, 69) for e in v}
    for fam, mode in their_ap.items():
        if mode in ("send", "both") and our_ap.get(fam) in ("receive", "both"):
            ctx.add_path_receive.append(list(fam))
    ours_nh = {(e["afi"], e["safi"], e["nexthop_afi"]) for v in caps(ours, 5) for e in v}
    for v in caps(theirs, 5):
        for e in v:
            t = (e["afi"], e["safi"], e["nexthop_afi"])
            if t in ours_nh:
                ctx.extended_nexthop.append(list(t))
    ctx.extended_message = bool(caps(ours, 6) and caps(theirs, 6))
    return ctx


def families(ours: dict[str, Any], theirs: dict[str, Any]) -> set[str]:
    """Negotiated multiprotocol families (IPv4 unicast if neither side sent MP caps)."""

    def mp(o: dict[str, Any]) -> set[str]:
        return {
            f"{c['value']['afi']}/{c['value']['safi']}" for c in o["capabilities"] if c["code"] == 1
        }

    a, b = mp(ours), mp(theirs)
    if not a and not b:
        return {"ipv4/unicast"}
    return a & b


# --------------------------------------------------------------------------------------------
# Namespaces and processes.
# --------------------------------------------------------------------------------------------

COMMANDS_LOG: list[str] = []


def sh(*args: str, check: bool = True, ns: str | None = None, timeout: float = 30) -> str:
    """Run a command (optionally inside a namespace), log it and return stdout."""
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()} {res.stdout.strip()}")
    return res.stdout


def netns_setup() -> None:
    """Create the two namespaces and the veth pair (see the module docstring)."""
    netns_cleanup()
    sh("ip", "netns", "add", NS_DAEMON)
    sh("ip", "netns", "add", NS_PEER)
    for ns in (NS_DAEMON, NS_PEER):
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", ns=ns)
        sh("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", ns=ns)
    sh(
        "ip",
        "link",
        "add",
        IF_DAEMON,
        "netns",
        NS_DAEMON,
        "type",
        "veth",
        "peer",
        "name",
        IF_PEER,
        "netns",
        NS_PEER,
    )
    for ns, dev, v4, v6, ll in (
        (NS_DAEMON, IF_DAEMON, DAEMON_V4, DAEMON_V6, DAEMON_LL),
        (NS_PEER, IF_PEER, PEER_V4, PEER_V6, PEER_LL),
    ):
        sh("ip", "link", "set", dev, "addrgenmode", "none", ns=ns)
        sh("ip", "link", "set", dev, "up", ns=ns)
        sh("ip", "addr", "add", f"{v4}/24", "dev", dev, ns=ns)
        sh("ip", "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad", ns=ns)
        sh("ip", "-6", "addr", "add", f"{ll}/64", "dev", dev, "nodad", ns=ns)


def netns_cleanup() -> None:
    """Delete our namespaces (this also destroys the veth pair)."""
    existing = sh("ip", "netns", "list", check=False)
    for ns in (NS_DAEMON, NS_PEER):
        if re.search(rf"^{re.escape(ns)}\b", existing, re.M):
            sh("ip", "netns", "del", ns, check=False)


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


# our own namespace, opened once so we can always switch back to it
_HOME_NS_FD = os.open("/proc/self/ns/net", os.O_RDONLY)


def _setns_fd(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def socket_in_netns(ns: str, family: int) -> socket.socket:
    """Create a TCP socket inside namespace `ns`; sockets keep their namespace forever, so
    we switch this thread in, create it and switch back (os.setns is only in 3.12)."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns_fd(fd)
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            _setns_fd(_HOME_NS_FD)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# The daemons.
# --------------------------------------------------------------------------------------------


class Daemon:
    """Base: start() runs the daemon in NS_DAEMON, rib() returns its view for the cross-check."""

    name = ""
    version = ""

    def __init__(self, config: str, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.commands: list[str] = []

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Bird(Daemon):
    name = "bird"

    def start(self) -> None:
        self.version = (
            "BIRD "
            + (
                subprocess.run(
                    ["bird", "--version"], capture_output=True, text=True
                ).stderr.split()[-1]
            )
        )
        conf = self.workdir / "bird.conf"
        conf.write_text(self.config)
        self.sock = str(self.workdir / "bird.ctl")
        cmd = ["bird", "-f", "-c", str(conf), "-s", self.sock, "-P", str(self.workdir / "pid")]
        self.commands.append(" ".join(cmd))
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_DAEMON, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "bird.log", "wb"),  # noqa: SIM115
        )
        for _ in range(100):
            if os.path.exists(self.sock) and "Daemon is up" in self.cli("show status", False):
                return
            time.sleep(0.1)
        raise RuntimeError("BIRD did not start: " + (self.workdir / "bird.log").read_text())

    def cli(self, command: str, log: bool = True) -> str:
        args = ["birdc", "-s", self.sock, *command.split()]
        if log:
            self.commands.append("birdc " + command)
        return sh(*args, ns=NS_DAEMON, check=False)

    def rib(self, proto: str = "peer1") -> tuple[str, list[dict[str, Any]]]:
        """`show route export <proto> all`: the routes after the export filter (before BGP
        itself prepends the local AS and sets the next hop), one record per path."""
        text = self.cli(f"show route export {proto} all")
        records: list[dict[str, Any]] = []
        prefix = ""
        for line in text.splitlines():
            m = re.match(r"^([0-9a-f.:]+/\d+)?\s+\S+\s+\[", line)
            if m and not line.startswith("\t"):
                prefix = m.group(1) or prefix  # a second path of the same prefix has none
                records.append({"prefix": prefix})
                continue
            m = re.match(r"^\s+BGP\.(\w+): (.*)$", line)
            if not m or not records:
                continue
            key, val = m.groups()
            rec = records[-1]
            if key in ("med", "local_pref"):
                rec[key] = int(val)
            elif key == "community":
                rec["communities"] = [f"{x}:{y}" for x, y in re.findall(r"(\d+),(\d+)", val)]
            elif key == "large_community":
                rec["large_communities"] = [
                    ":".join(t) for t in re.findall(r"\((\d+), (\d+), (\d+)\)", val)
                ]
            elif key == "ext_community":
                kinds = {"rt": "rt", "ro": "soo"}
                rec["ext_communities"] = [
                    f"{kinds.get(k, k)}:{x}:{y}"
                    for k, x, y in re.findall(r"\((\w+), ([^,]+), (\d+)\)", val)
                ]
        return text, records


class GoBGP(Daemon):
    name = "gobgp"
    api = ["-u", "127.0.0.1", "-p", "50051"]

    def start(self) -> None:
        self.version = (
            "GoBGP "
            + subprocess.run(
                ["gobgpd", "--version"], capture_output=True, text=True
            ).stdout.split()[-1]
        )
        conf = self.workdir / "gobgpd.toml"
        conf.write_text(self.config)
        cmd = [
            "gobgpd",
            "-f",
            str(conf),
            "-t",
            "toml",
            "--api-hosts",
            "127.0.0.1:50051",
            "--pprof-disable",
            "-p",
        ]
        self.commands.append(" ".join(cmd))
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_DAEMON, *cmd],
            stdout=open(self.workdir / "gobgpd.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            if sh("gobgp", *self.api, "global", ns=NS_DAEMON, check=False).strip():
                return
            time.sleep(0.1)
        raise RuntimeError("gobgpd did not start: " + (self.workdir / "gobgpd.log").read_text())

    def cli(self, command: str) -> str:
        self.commands.append("gobgp " + command)
        return sh("gobgp", *self.api, *command.split(), ns=NS_DAEMON)

    def rib(self, fams: tuple[str, ...] = ("ipv4",)) -> tuple[str, list[dict[str, Any]]]:
        """`gobgp global rib -a <fam> -j`: the locally originated paths, one record each
        (next hop and AS path are not compared: eBGP export rewrites them)."""
        texts = []
        records: list[dict[str, Any]] = []
        for fam in fams:
            out = self.cli(f"global rib -a {fam} -j")
            texts.append(out)
            data = json.loads(out) if out.strip() else {}
            for key, paths in data.items():
                for path in paths:
                    records.append(self._record(key, path))
        return "\n".join(texts), records

    @staticmethod
    def _record(key: str, path: dict[str, Any]) -> dict[str, Any]:
        nlri = path.get("nlri", {})
        rec: dict[str, Any] = {"prefix": nlri.get("prefix", key)}
        if "rd" in nlri:
            rec["rd"] = f"{nlri['rd']['admin']}:{nlri['rd']['assigned']}"
        if "labels" in nlri:
            rec["labels"] = nlri["labels"]
        for attr in path.get("attrs", []):
            t = attr.get("type")
            if t == 1:
                rec["origin"] = ORIGINS[attr["value"]]
            elif t == 4:
                rec["med"] = attr["metric"]
            elif t == 5:
                rec["local_pref"] = attr["value"]
            elif t == 8:
                rec["communities"] = [f"{c >> 16}:{c & 0xFFFF}" for c in attr["communities"]]
            elif t == 32:
                rec["large_communities"] = [
                    f"{v['ASN']}:{v['LocalData1']}:{v['LocalData2']}" for v in attr["value"]
                ]
            elif t == 16:
                exts = []
                for v in attr["value"]:
                    kind = {2: "rt", 3: "soo"}.get(v.get("subtype"), "?")
                    admin, num = str(v["value"]).rsplit(":", 1)
                    if v.get("type") == 2 and "." in admin:  # asdot -> plain
                        hi, lo = admin.split(".")
                        admin = str(int(hi) << 16 | int(lo))
                    exts.append(f"{kind}:{admin}:{num}")
                rec["ext_communities"] = exts
        return rec


# --------------------------------------------------------------------------------------------
# Our minimal peer.
# --------------------------------------------------------------------------------------------


def split_messages(buf: bytearray) -> list[bytes]:
    out = []
    while len(buf) >= 19:
        (length,) = struct.unpack_from("!H", buf, 16)
        if len(buf) < length:
            break
        out.append(bytes(buf[:length]))
        del buf[:length]
    return out


def run_peer(
    daemon_addr: str,
    our_open: bytes,
    after_eor: Callable[[], None] | None,
    total_timeout: float = 25.0,
    idle_after: float = 3.0,
) -> list[bytes]:
    """Connect, send our OPEN, keep the session alive and return every message received.

    Stops when End-of-RIB has arrived for every negotiated family (then runs `after_eor`
    and keeps recording until `idle_after` seconds pass without a message), when the daemon
    closes the connection or sends a NOTIFICATION, or after `total_timeout`.
    """
    family = socket.AF_INET6 if ":" in daemon_addr else socket.AF_INET
    deadline = time.monotonic() + 15
    while True:  # the daemon may need a moment before it accepts
        s = socket_in_netns(NS_PEER, family)
        s.settimeout(2)
        try:
            s.connect((daemon_addr, 179))
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    s.sendall(our_open)
    ours = decode_open(our_open[19:])
    buf = bytearray()
    received: list[bytes] = []
    want: set[str] | None = None
    ctx = Ctx()
    start = time.monotonic()
    last_rx = start
    last_ka = start
    phase = "initial"
    while True:
        now = time.monotonic()
        if now - start > total_timeout:
            print("  (total timeout)", file=sys.stderr)
            break
        if phase == "after" and now - last_rx > idle_after:
            break
        if phase == "initial" and want is not None and now - last_rx > idle_after:
            # some daemons only send End-of-RIB when graceful restart is negotiated
            print(f"  (no End-of-RIB for {sorted(want)}; idle)", file=sys.stderr)
            phase = "after"
            if after_eor:
                after_eor()
            last_rx = time.monotonic()
        if now - last_ka > 10:
            s.sendall(KEEPALIVE)
            last_ka = now
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        last_rx = time.monotonic()
        buf += data
        done = False
        for msg in split_messages(buf):
            received.append(msg)
            dec = decode_message(msg, ctx)
            if dec["type"] == "open":
                ctx = negotiate(ours, dec)
                want = families(ours, dec)
                s.sendall(KEEPALIVE)
            elif dec["type"] == "notification":
                done = True
            elif dec["type"] == "update" and dec["end_of_rib"] and want is not None:
                want.discard(dec["end_of_rib"])
                if not want and phase == "initial":
                    phase = "after"
                    if after_eor:
                        after_eor()
                    last_rx = time.monotonic()
        if done:
            break
    # polite close: NOTIFICATION Cease / Administrative Shutdown (RFC 4486)
    with contextlib.suppress(OSError):
        s.sendall(bgp_message(3, b"\x06\x02"))
    s.close()
    return received


# --------------------------------------------------------------------------------------------
# Scenarios.
# --------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    description: str
    daemon: type[Daemon]
    config: str
    open_asn: int
    open_caps: list[tuple[str, bytes]]  # (label, capability bytes)
    daemon_addr: str = DAEMON_V4
    setup: Callable[[Any], None] | None = None  # commands before we connect
    after_eor: Callable[[Any], None] | None = None  # commands after End-of-RIB
    rib: Callable[[Any], tuple[str, list[dict[str, Any]]]] | None = None  # daemon's own view
    checks: list[dict[str, Any]] = field(default_factory=list)  # configured announcements
    withdraw_checks: list[str] = field(default_factory=list)  # prefixes withdrawn after EoR


BIRD_HEAD = f"""\
log stderr all;
router id {DAEMON_V4};
protocol device {{ scan time 10; }}
"""

# Attributes set by BIRD export filters; the same values appear in `checks` below.
BIRD_FILTER_V4 = """\
filter out_v4 {
  if net ~ [ 10.2.0.0/24 ] then {
    bgp_med = 20;
    bgp_path.prepend(65010);
    bgp_community.add((65000, 200));
  } else {
    bgp_med = 10;
    bgp_community.add((65000, 100));
    bgp_community.add((65000, 101));
    bgp_large_community.add((4200000001, 1, 2));
    bgp_ext_community.add((rt, 65000, 100));
    bgp_ext_community.add((rt, 4200000001, 7));
    bgp_ext_community.add((ro, 192.0.2.1, 5));
  }
  accept;
}
"""

BIRD_STATIC_V4 = """\
protocol static s4a {
  ipv4;
  route 10.0.0.0/24 blackhole;
  route 10.0.1.0/24 blackhole;
  route 10.1.0.0/16 blackhole;
  route 198.51.100.7/32 blackhole;
}
protocol static s4b {
  ipv4;
  route 10.2.0.0/24 blackhole;
}
"""

V4_SHARED = ["10.0.0.0/24", "10.0.1.0/24", "10.1.0.0/16", "198.51.100.7/32"]
V4_SHARED_ATTRS = {
    "med": 10,
    "communities": ["65000:100", "65000:101"],
    "large_communities": ["4200000001:1:2"],
    "ext_communities": ["rt:65000:100", "rt:4200000001:7", "soo:192.0.2.1:5"],
}


def bird_scenarios() -> list[Scenario]:
    out = []

    # 1. eBGP IPv4 unicast, 4-byte local AS, GR/LLGR so BIRD's OPEN carries them.
    conf = (
        BIRD_HEAD
        + BIRD_STATIC_V4
        + BIRD_FILTER_V4
        + f"""\
protocol bgp peer1 {{
  local {DAEMON_V4} as 4200000001;
  neighbor {PEER_V4} as 65001;
  passive on;
  hold time 90;
  graceful restart on;
  long lived graceful restart on;
  ipv4 {{ import none; export filter out_v4; }};
}}
"""
    )
    out.append(
        Scenario(
            "bird_ipv4_ebgp",
            "eBGP IPv4 unicast, local AS 4200000001, MED, communities, large and extended "
            "communities, shared attributes; then 10.2.0.0/24 withdrawn",
            Bird,
            conf,
            65001,
            [
                ("mp ipv4/unicast", cap_mp("ipv4", "unicast")),
                ("route refresh", cap(2)),
                ("as4 65001", cap_as4(65001)),
                (
                    "graceful restart 120s ipv4/unicast",
                    cap_graceful_restart(120, ("ipv4", "unicast")),
                ),
            ],
            after_eor=lambda d: d.cli("disable s4b"),
            rib=lambda d: d.rib(),
            checks=[
                {
                    "prefix": p,
                    "as_path": [["sequence", [4200000001]]],
                    "next_hops": [DAEMON_V4],
                    **V4_SHARED_ATTRS,
                }
                for p in V4_SHARED
            ]
            + [
                {
                    "prefix": "10.2.0.0/24",
                    "med": 20,
                    "communities": ["65000:200"],
                    "as_path": [["sequence", [4200000001, 65010]]],
                    "next_hops": [DAEMON_V4],
                }
            ],
            withdraw_checks=["10.2.0.0/24"],
        )
    )

    # 1b. iBGP: LOCAL_PREF, empty AS_PATH.
    conf = (
        BIRD_HEAD
        + BIRD_STATIC_V4
        + """\
filter out_ibgp {
  bgp_local_pref = 200;
  bgp_med = 5;
  bgp_community.add((65000, 300));
  bgp_large_community.add((4200000001, 0, 4294967295));
  accept;
}
"""
        + f"""\
protocol bgp peer1 {{
  local {DAEMON_V4} as 4200000001;
  neighbor {PEER_V4} as 4200000001;
  passive on;
  ipv4 {{ import none; export filter out_ibgp; }};
}}
"""
    )
    out.append(
        Scenario(
            "bird_ipv4_ibgp",
            "iBGP IPv4 unicast, AS 4200000001: LOCAL_PREF 200, MED 5, empty AS_PATH",
            Bird,
            conf,
            4200000001,
            [
                ("mp ipv4/unicast", cap_mp("ipv4", "unicast")),
                ("route refresh", cap(2)),
                ("as4 4200000001", cap_as4(4200000001)),
            ],
            rib=lambda d: d.rib(),
            checks=[
                {
                    "prefix": p,
                    "local_pref": 200,
                    "med": 5,
                    "as_path": [],
                    "communities": ["65000:300"],
                    "large_communities": ["4200000001:0:4294967295"],
                }
                for p in [*V4_SHARED, "10.2.0.0/24"]
            ],
        )
    )

    # 2. IPv6 unicast over a directly connected IPv6 session: global + link-local next hop.
    conf = (
        BIRD_HEAD
        + """\
protocol static s6a {
  ipv6;
  route 2001:db8:1::/48 blackhole;
  route 2001:db8:2::/48 blackhole;
  route 2001:db8:3:4::/64 blackhole;
}
protocol static s6b {
  ipv6;
  route 2001:db8:ffff::1/128 blackhole;
}
filter out_v6 {
  bgp_med = 30;
  bgp_community.add((65000, 600));
  bgp_large_community.add((4200000001, 6, 6));
  accept;
}
"""
        + f"""\
protocol bgp peer1 {{
  local {DAEMON_V6} as 4200000001;
  neighbor {PEER_V6} as 65001;
  passive on;
  enable extended messages on;
  ipv6 {{ import none; export filter out_v6; }};
}}
"""
    )
    out.append(
        Scenario(
            "bird_ipv6",
            "eBGP IPv6 unicast via MP_REACH over a directly connected IPv6 session (global + "
            "link-local next hop); extended message capability; then 2001:db8:ffff::1/128 "
            "withdrawn via MP_UNREACH",
            Bird,
            conf,
            65001,
            [
                ("mp ipv6/unicast", cap_mp("ipv6", "unicast")),
                ("route refresh", cap(2)),
                ("as4 65001", cap_as4(65001)),
                ("extended message", cap(6)),
            ],
            daemon_addr=DAEMON_V6,
            after_eor=lambda d: d.cli("disable s6b"),
            rib=lambda d: d.rib(),
            checks=[
                {
                    "prefix": p,
                    "med": 30,
                    "communities": ["65000:600"],
                    "large_communities": ["4200000001:6:6"],
                    "as_path": [["sequence", [4200000001]]],
                    "next_hops": [DAEMON_V6, DAEMON_LL],
                }
                for p in [
                    "2001:db8:1::/48",
                    "2001:db8:2::/48",
                    "2001:db8:3:4::/64",
                    "2001:db8:ffff::1/128",
                ]
            ],
            withdraw_checks=["2001:db8:ffff::1/128"],
        )
    )

    # 3. A 2-byte-only peer: AS_TRANS in the OPEN and AS_PATH, real path in AS4_PATH.
    conf = (
        BIRD_HEAD
        + BIRD_STATIC_V4
        + """\
filter out_as4 {
  if net ~ [ 10.2.0.0/24 ] then {
    bgp_path.prepend(4200000002);
    bgp_path.prepend(65010);
  }
  accept;
}
"""
        + f"""\
protocol bgp peer1 {{
  local {DAEMON_V4} as 4200000001;
  neighbor {PEER_V4} as 65001;
  passive on;
  ipv4 {{ import none; export filter out_as4; }};
}}
"""
    )
    out.append(
        Scenario(
            "bird_as2peer",
            "peer without the 4-octet AS capability: AS_TRANS (23456) in OPEN and AS_PATH, "
            "AS4_PATH with the real 4-byte path",
            Bird,
            conf,
            65001,
            [("mp ipv4/unicast", cap_mp("ipv4", "unicast")), ("route refresh", cap(2))],
            rib=lambda d: d.rib(),
            checks=[
                {
                    "prefix": "10.2.0.0/24",
                    "as_path": [["sequence", [AS_TRANS, 65010, AS_TRANS]]],
                    "as4_path": [["sequence", [4200000001, 65010, 4200000002]]],
                }
            ]
            + [
                {
                    "prefix": p,
                    "as_path": [["sequence", [AS_TRANS]]],
                    "as4_path": [["sequence", [4200000001]]],
                }
                for p in V4_SHARED
            ],
        )
    )

    # 4. ADD-PATH: two static protocols provide two paths for 10.0.0.0/24.
    conf = (
        BIRD_HEAD
        + """\
protocol static sa {
  ipv4;
  route 10.0.0.0/24 blackhole;
  route 10.9.0.0/16 blackhole;
}
protocol static sb {
  ipv4;
  route 10.0.0.0/24 blackhole;
}
filter out_ap {
  if proto = "sa" then bgp_med = 10; else bgp_med = 20;
  accept;
}
"""
        + f"""\
protocol bgp peer1 {{
  local {DAEMON_V4} as 4200000001;
  neighbor {PEER_V4} as 65001;
  passive on;
  ipv4 {{ import none; export filter out_ap; add paths on; }};
}}
"""
    )
    out.append(
        Scenario(
            "bird_addpath",
            "ADD-PATH send/receive for IPv4 unicast on both sides; two paths (MED 10 and 20) "
            "for 10.0.0.0/24",
            Bird,
            conf,
            65001,
            [
                ("mp ipv4/unicast", cap_mp("ipv4", "unicast")),
                ("as4 65001", cap_as4(65001)),
                ("add-path ipv4/unicast send+receive", cap_add_path(("ipv4", "unicast", 3))),
            ],
            rib=lambda d: d.rib(),
            checks=[
                {"prefix": "10.0.0.0/24", "med": 10},
                {"prefix": "10.0.0.0/24", "med": 20},
                {"prefix": "10.9.0.0/16", "med": 10},
            ],
        )
    )

    # 5. RFC 8950: IPv4 NLRI with an IPv6 next hop over an IPv6 session.
    conf = (
        BIRD_HEAD
        + """\
protocol static s4 {
  ipv4;
  route 10.0.0.0/24 blackhole;
  route 10.5.0.0/16 blackhole;
}
"""
        + f"""\
protocol bgp peer1 {{
  local {DAEMON_V6} as 4200000001;
  neighbor {PEER_V6} as 65001;
  passive on;
  ipv4 {{ import none; export all; extended next hop on; }};
}}
"""
    )
    out.append(
        Scenario(
            "bird_extnh",
            "RFC 8950 extended next hop: IPv4 unicast NLRI in MP_REACH with IPv6 next hops, "
            "session over IPv6",
            Bird,
            conf,
            65001,
            [
                ("mp ipv4/unicast", cap_mp("ipv4", "unicast")),
                ("as4 65001", cap_as4(65001)),
                ("extended nexthop ipv4/unicast->ipv6", cap_ext_nh(("ipv4", "unicast", "ipv6"))),
            ],
            daemon_addr=DAEMON_V6,
            rib=lambda d: d.rib(),
            checks=[
                {"prefix": p, "next_hops": [DAEMON_V6, DAEMON_LL]}
                for p in ["10.0.0.0/24", "10.5.0.0/16"]
            ],
        )
    )

    # 9. NOTIFICATION: our OPEN claims AS 65099 while BIRD expects 65001.
    conf = (
        BIRD_HEAD
        + f"""\
protocol bgp peer1 {{
  local {DAEMON_V4} as 4200000001;
  neighbor {PEER_V4} as 65001;
  passive on;
  ipv4 {{ import none; export none; }};
}}
"""
    )
    out.append(
        Scenario(
            "bird_badas",
            "OPEN with the wrong peer AS (65099, BIRD expects 65001): BIRD answers with "
            "NOTIFICATION 2/2 (Bad Peer AS)",
            Bird,
            conf,
            65099,
            [("mp ipv4/unicast", cap_mp("ipv4", "unicast")), ("as4 65099", cap_as4(65099))],
        )
    )
    return out


GOBGP_GLOBAL = f"""\
[global.config]
  as = 4200000001
  router-id = "{DAEMON_V4}"
  port = 179
"""


def gobgp_neighbor(peer_as: int, fams: list[str]) -> str:
    s = f"""
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{PEER_V4}"
    peer-as = {peer_as}
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
"""
    for f in fams:
        s += f"""  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "{f}"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
"""
    return s


def gobgp_scenarios() -> list[Scenario]:
    out = []

    def setup_unicast(d: GoBGP) -> None:
        common = "community 65000:100,65000:101 large-community 4200000001:1:2"
        d.cli(f"global rib add 10.0.0.0/24 nexthop {DAEMON_V4} med 10 {common}")
        d.cli(f"global rib add 10.0.1.0/24 nexthop {DAEMON_V4} med 10 {common}")
        d.cli(
            f"global rib add 10.2.0.0/24 nexthop {DAEMON_V4} origin incomplete "
            "aspath 65010,65011 community 65000:200"
        )
        d.cli(
            f"global rib -a ipv6 add 2001:db8:1::/48 nexthop {DAEMON_V6} med 30 "
            "community 65000:600 large-community 4200000001:6:6"
        )

    out.append(
        Scenario(
            "gobgp_unicast",
            "eBGP IPv4 + IPv6 unicast (session over IPv4), AS 4200000001, MED, communities, "
            "large communities, an AS path set by the CLI; then 10.2.0.0/24 withdrawn",
            GoBGP,
            GOBGP_GLOBAL + gobgp_neighbor(65001, ["ipv4-unicast", "ipv6-unicast"]),
            65001,
            [
                ("mp ipv4/unicast", cap_mp("ipv4", "unicast")),
                ("mp ipv6/unicast", cap_mp("ipv6", "unicast")),
                ("route refresh", cap(2)),
                ("as4 65001", cap_as4(65001)),
                (
                    "graceful restart 120s ipv4/unicast ipv6/unicast",
                    cap_graceful_restart(120, ("ipv4", "unicast"), ("ipv6", "unicast")),
                ),
            ],
            setup=setup_unicast,
            after_eor=lambda d: d.cli("global rib del 10.2.0.0/24"),
            rib=lambda d: d.rib(("ipv4", "ipv6")),
            checks=[
                {
                    "prefix": p,
                    "med": 10,
                    "communities": ["65000:100", "65000:101"],
                    "large_communities": ["4200000001:1:2"],
                    "as_path": [["sequence", [4200000001]]],
                }
                for p in ["10.0.0.0/24", "10.0.1.0/24"]
            ]
            + [
                {
                    "prefix": "10.2.0.0/24",
                    "communities": ["65000:200"],
                    "as_path": [["sequence", [4200000001, 65010, 65011]]],
                },
                {
                    "prefix": "2001:db8:1::/48",
                    "med": 30,
                    "communities": ["65000:600"],
                    "large_communities": ["4200000001:6:6"],
                },
            ],
            withdraw_checks=["10.2.0.0/24"],
        )
    )

    def setup_vpn(d: GoBGP) -> None:
        d.cli("global rib -a vpnv4 add 10.0.0.0/24 label 100 rd 65000:100 rt 65000:100")
        d.cli("global rib -a vpnv4 add 10.0.1.0/24 label 101 rd 192.0.2.1:7 rt 192.0.2.1:7")
        d.cli("global rib -a vpnv4 add 10.0.2.0/24 label 102 rd 64086.59904:7 rt 64086.59904:7")
        d.cli("global rib -a vpnv6 add 2001:db8:1::/48 label 200 rd 65000:100 rt 65000:100")
        # GoBGP parses "4200000000:7" as type 0 with the ASN clamped to 65535 (strconv
        # ParseUint(.., 16)); a type 2 RD/RT needs asdot: 64086.59904 == 4200000000.
        d.cli("global rib -a vpnv6 add 2001:db8:2::/48 label 201 rd 64086.59904:7 rt 64086.59904:7")

    out.append(
        Scenario(
            "gobgp_vpn",
            "VPNv4 and VPNv6 (SAFI 128) with RD types 0, 1 and 2, labels and route targets; "
            "then one VPNv4 route withdrawn",
            GoBGP,
            GOBGP_GLOBAL + gobgp_neighbor(65001, ["l3vpn-ipv4-unicast", "l3vpn-ipv6-unicast"]),
            65001,
            [
                ("mp ipv4/mpls_vpn", cap_mp("ipv4", "mpls_vpn")),
                ("mp ipv6/mpls_vpn", cap_mp("ipv6", "mpls_vpn")),
                ("route refresh", cap(2)),
                ("as4 65001", cap_as4(65001)),
                (
                    "graceful restart 120s ipv4/mpls_vpn ipv6/mpls_vpn",
                    cap_graceful_restart(120, ("ipv4", "mpls_vpn"), ("ipv6", "mpls_vpn")),
                ),
            ],
            setup=setup_vpn,
            after_eor=lambda d: d.cli(
                "global rib -a vpnv4 del 10.0.1.0/24 label 101 rd 192.0.2.1:7"
            ),
            rib=lambda d: d.rib(("vpnv4", "vpnv6")),
            checks=[
                {
                    "prefix": "10.0.0.0/24",
                    "rd": "65000:100",
                    "labels": [100],
                    "ext_communities": ["rt:65000:100"],
                },
                {
                    "prefix": "10.0.1.0/24",
                    "rd": "192.0.2.1:7",
                    "labels": [101],
                    "ext_communities": ["rt:192.0.2.1:7"],
                },
                {
                    "prefix": "10.0.2.0/24",
                    "rd": "4200000000:7",
                    "labels": [102],
                    "ext_communities": ["rt:4200000000:7"],
                },
                {
                    "prefix": "2001:db8:1::/48",
                    "rd": "65000:100",
                    "labels": [200],
                    "ext_communities": ["rt:65000:100"],
                },
                {
                    "prefix": "2001:db8:2::/48",
                    "rd": "4200000000:7",
                    "labels": [201],
                    "ext_communities": ["rt:4200000000:7"],
                },
            ],
            withdraw_checks=["10.0.1.0/24"],
        )
    )

    out.append(
        Scenario(
            "gobgp_badas",
            "OPEN with the wrong peer AS (65099, GoBGP expects 65001): NOTIFICATION 2/2",
            GoBGP,
            GOBGP_GLOBAL + gobgp_neighbor(65001, ["ipv4-unicast"]),
            65099,
            [("mp ipv4/unicast", cap_mp("ipv4", "unicast")), ("as4 65099", cap_as4(65099))],
        )
    )
    return out


def all_scenarios() -> list[Scenario]:
    return bird_scenarios() + gobgp_scenarios()


# --------------------------------------------------------------------------------------------
# Cross-check and output.
# --------------------------------------------------------------------------------------------


def announcements(decoded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten UPDATEs into one record per announced prefix with the attributes checked."""
    out = []
    for d in decoded:
        if d["type"] != "update":
            continue
        a = d["attributes"]
        entries = [(n, [a["next_hop"]] if a["next_hop"] else []) for n in d["nlri"]]
        if a["mp_reach"]:
            entries += [(n, a["mp_reach"]["next_hops"]) for n in a["mp_reach"]["nlri"]]
        for n, nhs in entries:
            rec = {
                k: a[k]
                for k in (
                    "origin",
                    "med",
                    "local_pref",
                    "communities",
                    "large_communities",
                    "ext_communities",
                    "as4_path",
                )
            }
            rec["as_path"] = [s for s in a["as_path"] or []]
            rec.update(n)
            rec["next_hops"] = nhs
            out.append(rec)
    return out


def withdrawals(decoded: list[dict[str, Any]]) -> set[str]:
    out = set()
    for d in decoded:
        if d["type"] != "update":
            continue
        out |= {w["prefix"] for w in d["withdrawn"]}
        if d["attributes"]["mp_unreach"]:
            out |= {w["prefix"] for w in d["attributes"]["mp_unreach"]["withdrawn"]}
    return out


def same(key: str, got: Any, want: Any) -> bool:
    """Equality for the cross-check; community lists are compared as sets because daemons
    may reorder them (BIRD sorts extended communities by value)."""
    if key.endswith("communities") and isinstance(got, list):
        return sorted(got) == sorted(want)
    return bool(got == want)


def cross_check(
    sc: Scenario, decoded: list[dict[str, Any]], rib: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Compare the decoded announcements with the configured ones and the daemon's RIB."""
    problems = []
    anns = announcements(decoded)
    for chk in sc.checks:
        if not any(all(same(k, a.get(k), v) for k, v in chk.items()) for a in anns):
            cands = [a for a in anns if a["prefix"] == chk["prefix"]]
            problems.append({"expected": chk, "decoded_candidates": cands})
    configured = {c["prefix"] for c in sc.checks}
    announced = {a["prefix"] for a in anns}
    if configured != announced:
        problems.append(
            {"configured_prefixes": sorted(configured), "announced_prefixes": sorted(announced)}
        )
    if rib is not None:
        # every path in the daemon's own view must have been announced with those values
        for rec in rib:
            if not any(all(same(k, a.get(k), v) for k, v in rec.items()) for a in anns):
                cands = [a for a in anns if a["prefix"] == rec["prefix"]]
                problems.append({"daemon_rib_path": rec, "decoded_candidates": cands})
        rib_prefixes = {r["prefix"] for r in rib}
    if rib is not None and rib_prefixes != announced:
        problems.append(
            {"daemon_rib_prefixes": sorted(rib_prefixes), "announced_prefixes": sorted(announced)}
        )
    if sc.withdraw_checks and set(sc.withdraw_checks) != withdrawals(decoded):
        problems.append(
            {
                "expected_withdrawn": sc.withdraw_checks,
                "decoded_withdrawn": sorted(withdrawals(decoded)),
            }
        )
    return {
        "checked_announcements": len(sc.checks),
        "checked_daemon_rib_paths": len(rib) if rib is not None else 0,
        "checked_withdrawals": sc.withdraw_checks,
        "result": "ok" if not problems else "MISMATCH",
        "problems": problems,
    }


def run_scenario(sc: Scenario, workroot: Path) -> list[Path]:
    print(f"== {sc.name}: {sc.description}", file=sys.stderr)
    workdir = workroot / sc.name
    workdir.mkdir()
    netns_setup()
    daemon = sc.daemon(sc.config, workdir)
    written = []
    try:
        daemon.start()
        time.sleep(0.5)
        if sc.setup:
            sc.setup(daemon)
        our_open = build_open(sc.open_asn, 90, PEER_V4, [c for _, c in sc.open_caps])
        rib: dict[str, Any] = {"text": "", "records": None}

        def at_eor() -> None:
            # the daemon's own view while the session is up, before any withdrawal
            if sc.rib:
                rib["text"], rib["records"] = sc.rib(daemon)
            if sc.after_eor:
                sc.after_eor(daemon)

        messages = run_peer(sc.daemon_addr, our_open, at_eor)
    finally:
        daemon.stop()
        netns_cleanup()

    ours = decode_open(our_open[19:])
    ctx = Ctx()
    decoded = []
    ctxs = []
    for m in messages:
        d = decode_message(m, ctx)
        if d["type"] == "open":
            ctx = negotiate(ours, d)
        decoded.append(d)
        ctxs.append(ctx)
    check = cross_check(sc, decoded, rib["records"]) if sc.checks else None
    if check:
        print(f"  cross-check: {check['result']}", file=sys.stderr)
        if check["problems"]:
            print(json.dumps(check["problems"], indent=1), file=sys.stderr)
    provenance = {
        "daemon": daemon.version,
        "scenario": sc.name,
        "description": sc.description,
        "config": sc.config,
        "commands": [c.replace(str(workdir), "<workdir>") for c in daemon.commands],
        "our_open_capabilities": [label for label, _ in sc.open_caps],
        "our_open_asn": sc.open_asn,
        "our_open_hex": our_open.hex(),
        "captured": datetime.date.today().isoformat(),
        "kernel": platform.release(),
        "tool": "tests/vectors/bgp/capture.py",
    }
    if check is not None:
        provenance["cross_check"] = {**check, "daemon_rib": rib["text"]}
    n = 0
    for idx, (m, d, c) in enumerate(zip(messages, decoded, ctxs, strict=True)):
        if d["type"] == "keepalive":
            continue
        vec = {
            "provenance": {**provenance, "message_index": idx},
            "session": {
                "asn4": c.asn4,
                "add_path_receive": c.add_path_receive,
                "extended_nexthop": c.extended_nexthop,
                "extended_message": c.extended_message,
            },
            "hex": m.hex(),
            "expected": d,
        }
        path = OUT_DIR / f"{sc.name}_{n}.json"
        path.write_text(json.dumps(vec, indent=2) + "\n")
        written.append(path)
        n += 1
        print(f"  {path.name}: {summary(d)}", file=sys.stderr)
    return written


def summary(d: dict[str, Any]) -> str:
    """One line describing a decoded message (used for the console and README table)."""
    t = d["type"]
    if t == "open":
        return f"OPEN asn {d['asn']}, caps " + ",".join(c["name"] for c in d["capabilities"])
    if t == "notification":
        return f"NOTIFICATION {d['code']}/{d['subcode']} data {d['data'] or '-'}"
    if t == "update":
        if d["end_of_rib"]:
            return f"UPDATE End-of-RIB {d['end_of_rib']}"
        a = d["attributes"]
        parts = []
        if d["nlri"]:
            parts.append("nlri " + " ".join(n["prefix"] for n in d["nlri"]))
        if d["withdrawn"]:
            parts.append("withdrawn " + " ".join(n["prefix"] for n in d["withdrawn"]))
        if a["mp_reach"]:
            mp = a["mp_reach"]
            parts.append(
                f"MP_REACH {mp['afi']}/{mp['safi']} " + " ".join(n["prefix"] for n in mp["nlri"])
            )
        if a["mp_unreach"]:
            mp = a["mp_unreach"]
            parts.append(
                f"MP_UNREACH {mp['afi']}/{mp['safi']} "
                + " ".join(n["prefix"] for n in mp["withdrawn"])
            )
        return "UPDATE " + "; ".join(parts)
    return str(t).upper()


TABLE_BEGIN = "<!-- vectors:begin (generated by capture.py) -->"
TABLE_END = "<!-- vectors:end -->"


def vector_table() -> str:
    """The Markdown table of every vector file in OUT_DIR (for README.md)."""
    rows = [
        "| file | daemon | bytes | session | message |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(OUT_DIR.glob("*.json")):
        vec = json.loads(path.read_text())
        ses = vec["session"]
        flags = [
            name
            for name, on in (
                ("2-byte AS", not ses["asn4"]),
                ("add-path rx", ses["add_path_receive"]),
                ("ext next hop", ses["extended_nexthop"]),
                ("ext message", ses["extended_message"]),
            )
            if on
        ]
        rows.append(
            f"| `{path.name}` | {vec['provenance']['daemon']} | {len(vec['hex']) // 2} "
            f"| {', '.join(flags) or '-'} | {summary(vec['expected'])} |"
        )
    return "\n".join(rows)


def update_readme() -> None:
    """Replace the table between the markers in README.md, if both markers are there."""
    readme = OUT_DIR / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    if TABLE_BEGIN in text and TABLE_END in text:
        head, rest = text.split(TABLE_BEGIN, 1)
        _, tail = rest.split(TABLE_END, 1)
        readme.write_text(f"{head}{TABLE_BEGIN}\n{vector_table()}\n{TABLE_END}{tail}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", help="scenario names (see --list)")
    ap.add_argument("--all", action="store_true", help="run every scenario")
    ap.add_argument("--list", action="store_true", help="list scenarios and exit")
    ap.add_argument("--table", action="store_true", help="print the README vector table and exit")
    args = ap.parse_args()
    if args.table:
        print(vector_table())
        return 0
    scs = all_scenarios()
    if args.list:
        for sc in scs:
            print(f"{sc.name:16} {sc.description}")
        return 0
    if not args.all:
        names = set(args.scenarios)
        unknown = names - {s.name for s in scs}
        if unknown or not names:
            ap.error(f"give --all or scenario names; unknown: {sorted(unknown)}")
        scs = [s for s in scs if s.name in names]
    if os.geteuid() != 0:
        ap.error("must run as root (network namespaces)")
    workroot = Path(tempfile.mkdtemp(prefix="bgpcapture-"))
    try:
        for sc in scs:
            for old in OUT_DIR.glob(f"{sc.name}_*.json"):
                old.unlink()
            run_scenario(sc, workroot)
        update_readme()
    finally:
        netns_cleanup()
        shutil.rmtree(workroot, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
