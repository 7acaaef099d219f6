"""Decode raw BGP UPDATE messages with ExaBGP 5's own in-process parser (benchmark baseline).

Usage from a benchmark::

    from benchmarks.exabgp_decode import decode_updates
    n_nlri = decode_updates(messages)      # messages: list of whole UPDATEs, header included

As a script it decodes the UPDATE vectors in ``tests/vectors/bgp/`` as a self-check and times
them::

    python3 benchmarks/exabgp_decode.py                  # self-check + rate, 10000 rounds
    python3 benchmarks/exabgp_decode.py --rounds 1000 --json

Tested with ExaBGP 5.0.15 (``pip install exabgp``).  ExaBGP has no type hints: everything it
returns is ``Any`` here.

ExaBGP calls used
-----------------

Set-up, once per process (``_negotiated()``, cached):

* ``exabgp.logger.log.init(exabgp.environment.getenv())``: loads ExaBGP's settings and
  initialises its logger, as the daemon does at start (``reactor/loop.py``).  Without it the
  first ``log.debug`` inside the parser fails (``option.logger`` is ``None``).
* ``exabgp.bgp.message.open.Open.unpack_message(body)`` twice, on two hand-built OPEN bodies
  ("ours" and "the peer's"), each with the capabilities Multiprotocol for ipv4/unicast,
  ipv6/unicast, ipv4/mpls-vpn, ipv6/mpls-vpn, 4-octet AS (peer AS 4200000001) and extended
  next hop for IPv4 unicast with IPv6 next hops (RFC 8950, so BIRD's ``bird_extnh`` vectors
  decode).  ExaBGP's own OPEN parser turns them into ``Open`` objects with ``Capabilities``.
* ``exabgp.bgp.message.open.capability.negotiated.Negotiated(neighbor)`` then
  ``.sent(our_open)`` and ``.received(peer_open)``: ExaBGP's own negotiation, exactly what
  ``exabgp.reactor.protocol.Protocol`` does on a live session (``configuration/check.py`` and
  ``reactor/api/transcoder.py`` build a ``Negotiated`` the same way).  The result has
  ``asn4 = True``, the four families, extended next hop for ipv4/unicast, no ADD-PATH.
  ``Negotiated.__init__`` only reads ``neighbor['capability']['aigp']`` from the neighbor, so a
  one-key dict stands in for ExaBGP's ``Neighbor`` object.

Per message (``decode_updates``):

* ``exabgp.bgp.message.update.Update.unpack_message(body, Direction.IN, negotiated)`` where
  ``body`` is the message without its 19-byte header -- the same call
  ``exabgp.bgp.message.Message.unpack`` dispatches to for type 2 (we call it directly and skip
  the dictionary lookup).  It returns an ``Update`` (``.nlris`` is the list of announced and
  withdrawn NLRI objects, including those from MP_REACH/MP_UNREACH) or an ``EOR`` for an
  End-of-RIB marker, which we count as zero NLRI.  Before that, ``_split_header`` checks the
  header (marker, length, type) with ``struct``, which is what ExaBGP's reader
  (``reactor/network/connection.py``) does before it calls the parser.

  NLRI counting quirk: when MP_REACH carries two next hops (IPv6 global + link-local, 32
  bytes), ExaBGP 5 returns one NLRI object *per next hop* for each prefix, so
  ``len(update.nlris)`` is twice the number of prefixes on the wire.  ``decode_updates``
  returns ExaBGP's count as is (no extra per-NLRI work); ``load_vectors`` accounts for it in
  the self-check.  Compare decoders by messages per second, or by the wire NLRI count that
  ``load_vectors`` returns next to ExaBGP's.

Caching: ExaBGP 5.0.15 keeps, per ``Negotiated``, the last attribute block it parsed
(``negotiated.cached_wire`` / ``cached_attributes``, see
``exabgp/bgp/message/update/attribute/attributes.py``) and reuses it when the next UPDATE
carries byte-identical attributes without MP_REACH/MP_UNREACH; it also interns attribute
objects when ``exabgp.cache.attributes`` is true (the default).  That is ExaBGP's normal
behaviour on a session, so ``decode_updates`` leaves it on; pass ``attribute_cache=False`` to
clear the per-session entry before each message (measures a cold attribute parse).

Environment: nothing is required.  ExaBGP reads its settings from ``exabgp.<section>.<key>``
or ``exabgp_<section>_<key>`` environment variables when ``getenv()`` is first called;
``Attributes()`` calls it.  Defaults are fine for decoding (``exabgp.cache.attributes=true``).
Debug logging of every UPDATE (``log.debug(..., 'parser')``) is off unless
``exabgp.log.parser=true`` / ``exabgp.log.level=DEBUG`` are set -- do not set them when
benchmarking.  Decode errors surface as ``exabgp.bgp.message.notification.Notify``.
"""

from __future__ import annotations

import argparse
import functools
import json
import struct
import sys
import time
from pathlib import Path
from typing import Any

from exabgp.bgp.message.direction import Direction
from exabgp.bgp.message.open import Open
from exabgp.bgp.message.open.capability.negotiated import (
    Negotiated,
)
from exabgp.bgp.message.update import EOR, Update
from exabgp.environment import getenv
from exabgp.logger import log

VECTOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "bgp"

_MARKER = b"\xff" * 16
_UPDATE = 2
_AS_TRANS = 23456


def _open_body(asn: int, bgp_id: bytes, families: list[tuple[int, int]]) -> bytes:
    """A raw OPEN body (no header): MP capability per family, 4-octet AS, and extended next
    hop (RFC 8950) for IPv4 unicast over IPv6."""
    caps = b"".join(struct.pack("!BBHBB", 1, 4, afi, 0, safi) for afi, safi in families)
    caps += struct.pack("!BBI", 65, 4, asn)
    caps += struct.pack("!BBHHH", 5, 6, 1, 1, 2)
    params = struct.pack("!BB", 2, len(caps)) + caps
    my_as = asn if asn <= 0xFFFF else _AS_TRANS
    return struct.pack("!BHH4sB", 4, my_as, 90, bgp_id, len(params)) + params


# ipv4/unicast, ipv6/unicast, ipv4/mpls-vpn, ipv6/mpls-vpn
FAMILIES = [(1, 1), (2, 1), (1, 128), (2, 128)]


@functools.cache
def _negotiated(local_as: int = 65001, peer_as: int = 4200000001) -> Any:
    """ExaBGP's ``Negotiated`` for a 4-byte-AS session with the families above (built once)."""
    # ExaBGP's logger must be initialised before any parser runs (the parsers call
    # log.debug(..., 'parser')); the daemon does exactly this in reactor/loop.py.
    log.init(getenv())
    ours = Open.unpack_message(_open_body(local_as, b"\xc0\x00\x02\x02", FAMILIES))
    theirs = Open.unpack_message(_open_body(peer_as, b"\xc0\x00\x02\x01", FAMILIES))
    negotiated = Negotiated({"capability": {"aigp": False}})
    negotiated.sent(ours)
    negotiated.received(theirs)
    assert negotiated.asn4, "4-octet AS was not negotiated"
    return negotiated


def _split_header(message: bytes) -> bytes:
    """Check the 19-byte header of one UPDATE and return its body."""
    if message[:16] != _MARKER:
        raise ValueError("bad BGP marker")
    length, mtype = struct.unpack_from("!HB", message, 16)
    if length != len(message) or mtype != _UPDATE:
        raise ValueError(f"not one whole UPDATE (length {length}/{len(message)}, type {mtype})")
    return message[19:]


def decode_updates(messages: list[bytes], attribute_cache: bool = True) -> int:
    """Decode whole UPDATE messages (header included) with ExaBGP; return the NLRI count.

    Announced and withdrawn NLRI both count, from the classic fields and MP_REACH/MP_UNREACH
    alike; End-of-RIB markers count zero.
    """
    negotiated = _negotiated()
    unpack = Update.unpack_message
    direction = Direction.IN
    count = 0
    for message in messages:
        if not attribute_cache:
            negotiated.cached_wire = b""
            negotiated.cached_attributes = None
        update = unpack(_split_header(message), direction, negotiated)
        if not isinstance(update, EOR):
            count += len(update.nlris)
    return count


def load_vectors(directory: Path = VECTOR_DIR) -> list[tuple[str, bytes, int, int]]:
    """UPDATE vectors this harness' session can decode:
    (name, bytes, wire_nlri, exabgp_nlri) -- see the NLRI counting quirk above.

    Skips vectors whose session differs from ours (ADD-PATH, a 2-byte-AS peer).
    """
    out = []
    for path in sorted(directory.glob("*.json")):
        vec = json.loads(path.read_text())
        exp = vec["expected"]
        if exp.get("type") != "update":
            continue
        session = vec["session"]
        if not session["asn4"] or session["add_path_receive"]:
            continue
        attrs = exp["attributes"]
        n = len(exp["nlri"]) + len(exp["withdrawn"])
        n_exabgp = n
        if attrs["mp_reach"]:
            n += len(attrs["mp_reach"]["nlri"])
            n_exabgp += len(attrs["mp_reach"]["nlri"]) * len(attrs["mp_reach"]["next_hops"])
        if attrs["mp_unreach"]:
            n += len(attrs["mp_unreach"]["withdrawn"])
            n_exabgp += len(attrs["mp_unreach"]["withdrawn"])
        out.append((path.name, bytes.fromhex(vec["hex"]), n, n_exabgp))
    return out


def _expected_nlri(path: Path) -> set[tuple[str, str, str | None]]:
    """(action, prefix, rd) for every NLRI in a vector's independently decoded value."""
    exp = json.loads(path.read_text())["expected"]
    attrs = exp["attributes"]
    out = {("announce", n["prefix"], n.get("rd")) for n in exp["nlri"]}
    out |= {("withdraw", n["prefix"], n.get("rd")) for n in exp["withdrawn"]}
    if attrs["mp_reach"]:
        out |= {("announce", n["prefix"], n.get("rd")) for n in attrs["mp_reach"]["nlri"]}
    if attrs["mp_unreach"]:
        out |= {("withdraw", n["prefix"], n.get("rd")) for n in attrs["mp_unreach"]["withdrawn"]}
    return out


def _exabgp_nlri(message: bytes) -> set[tuple[str, str, str | None]]:
    """The same triples from ExaBGP's own decode (self-check only, not timed)."""
    update = Update.unpack_message(_split_header(message), Direction.IN, _negotiated())
    if isinstance(update, EOR):
        return set()
    out = set()
    for nlri in update.nlris:
        js = json.loads(nlri.json())
        action = "withdraw" if "withdraw" in str(nlri.action).lower() else "announce"
        out.add((action, js["nlri"], js.get("rd")))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="ExaBGP UPDATE decode self-check and rate")
    ap.add_argument("--rounds", type=int, default=10000, help="times to decode the vector set")
    ap.add_argument(
        "--no-attribute-cache",
        action="store_true",
        help="clear ExaBGP's per-session attribute cache before each message",
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    vectors = load_vectors()
    if not vectors:
        print(f"no UPDATE vectors in {VECTOR_DIR}", file=sys.stderr)
        return 1
    usable: list[bytes] = []
    wire_total = 0
    for name, raw, wire, expected in vectors:
        try:
            got = decode_updates([raw])
        except Exception as exc:  # ExaBGP raises Notify (and sometimes plain errors)
            print(
                f"SKIP {name}: ExaBGP could not decode it in this session: {exc!r}", file=sys.stderr
            )
            continue
        # cross-check the NLRI themselves against the vector's independent decode
        same_nlri = _exabgp_nlri(raw) == _expected_nlri(VECTOR_DIR / name)
        status = "ok" if got == expected and same_nlri else "MISMATCH"
        print(
            f"{status:8} {name}: {got} NLRI objects (expected {expected}; {wire} on the wire)",
            file=sys.stderr,
        )
        if status != "ok":
            print(f"  ExaBGP {sorted(_exabgp_nlri(raw))}", file=sys.stderr)
            print(f"  vector {sorted(_expected_nlri(VECTOR_DIR / name))}", file=sys.stderr)
            return 1
        usable.append(raw)
        wire_total += wire
    if not usable:
        return 1

    messages = usable * args.rounds
    cache = not args.no_attribute_cache
    decode_updates(messages[: len(usable)], cache)  # warm-up (imports, getenv)
    t0 = time.perf_counter()
    nlri = decode_updates(messages, cache)
    elapsed = time.perf_counter() - t0
    result = {
        "decoder": "exabgp " + _exabgp_version(),
        "messages": len(messages),
        "nlri_exabgp_objects": nlri,
        "nlri_wire": wire_total * args.rounds,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(len(messages) / elapsed),
        "wire_nlri_per_second": round(wire_total * args.rounds / elapsed),
        "attribute_cache": cache,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['decoder']}: {len(messages)} UPDATEs ({result['nlri_wire']} wire NLRI, "
            f"{nlri} ExaBGP NLRI objects) in {elapsed:.2f} s = "
            f"{result['messages_per_second']} msg/s, {result['wire_nlri_per_second']} wire "
            f"NLRI/s (attribute cache {'on' if cache else 'off'})"
        )
    return 0


def _exabgp_version() -> str:
    from exabgp.version import version

    return str(version)


if __name__ == "__main__":
    sys.exit(main())
