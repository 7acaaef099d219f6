"""A deterministic synthetic full BGP table, as the raw UPDATEs one eBGP peer would send.

The shape follows a real IPv4 + IPv6 full table dump (one peer, one next hop per family):

* prefix lengths: IPv4 dominated by /24 (about 60%), then /22, /23, /20, /21, /19, /16 and a
  tail of /8../18; IPv6 mostly /48, then /32, /40, /44, /36, /29 and a tail;
* every prefix is distinct (a table holds each prefix once);
* AS paths of 1-12 ASes starting with the peer's AS, some with the origin AS prepended 1-3
  times; 0-8 communities, large communities on about 10% of the sets, a MED on about 30%;
* nearly every UPDATE has its own attribute set: most carry 1-4 prefixes, about 15% carry
  5-12 (so ~1.17M prefixes make ~400k UPDATEs, the ~410k distinct sets of DESIGN §2);
* IPv4 uses the classic NLRI field with NEXT_HOP, IPv6 uses MP_REACH_NLRI (RFC 4760).

Messages are encoded by :func:`netlinkbgp.bgp.pack_updates`. The same seed always gives the
same bytes.

    PYTHONPATH=. python3 benchmarks/gen_table.py --v4 950000 --v6 220000 --out table.bgp

From Python: ``generate(v4, v6, seed) -> list[bytes]`` (whole UPDATEs, header included).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AsPath,
    Attribute,
    Communities,
    Family,
    LargeCommunities,
    MultiExitDisc,
    Negotiated,
    NextHopAttribute,
    Nlri,
    OriginAttribute,
    pack_updates,
)
from netlinkbgp.route import Origin

#: Sizes of a full table in 2024-2025 (about 950k IPv4 and 220k IPv6 prefixes).
FULL_V4 = 950_000
FULL_V6 = 220_000
#: The peer the table comes from.
PEER_AS = 64500
NEXT_HOP_V4 = IPv4Address("192.0.2.1")
NEXT_HOP_V6 = IPv6Address("2001:db8::1")

#: (length, weight): IPv4 prefix lengths, /24 about 60% (shape of a 2024 table).
V4_LENGTHS: tuple[tuple[int, int], ...] = (
    (24, 600), (22, 100), (23, 80), (20, 45), (21, 45), (19, 30), (16, 25), (18, 20),
    (17, 12), (15, 5), (14, 4), (13, 3), (12, 2), (11, 1), (10, 1), (9, 1), (8, 1),
)
#: (length, weight): IPv6 prefix lengths, mostly /48.
V6_LENGTHS: tuple[tuple[int, int], ...] = (
    (48, 500), (32, 120), (40, 80), (44, 90), (36, 40), (29, 35), (46, 30), (47, 25),
    (42, 20), (28, 15), (33, 10), (34, 10), (38, 10), (30, 5), (31, 5), (45, 5),
)
#: (prefixes in one UPDATE, weight): mostly 1-4, some 5-12.
PER_UPDATE: tuple[tuple[int, int], ...] = (
    (1, 35), (2, 25), (3, 15), (4, 10), (5, 3), (6, 3), (7, 2), (8, 2), (9, 2), (10, 1),
    (11, 1), (12, 1),
)


def _picker(table: Sequence[tuple[int, int]], rng: random.Random) -> list[int]:
    """A long pre-drawn list of choices (drawing one by one is the slow part)."""
    values = [v for v, _ in table]
    weights = [w for _, w in table]
    return rng.choices(values, weights, k=1 << 16)


def _prefixes(count: int, bits: int, rng: random.Random) -> list[tuple[int, int]]:
    """``count`` distinct (value, length) prefixes with the family's length mix."""
    lengths = _picker(V4_LENGTHS if bits == 32 else V6_LENGTHS, rng)
    seen: set[tuple[int, int]] = set()
    out: list[tuple[int, int]] = []
    i = 0
    while len(out) < count:
        length = lengths[i & 0xFFFF]
        i += 1
        if bits == 32:  # public-looking space: first octet 1..223
            value = (rng.randint(1, 223) << 24 | rng.getrandbits(24)) >> (32 - length) \
                << (32 - length)
        else:  # 2000::/3
            value = (0x2 << 124 | rng.getrandbits(124)) >> (128 - length) << (128 - length)
        if (value, length) not in seen:
            seen.add((value, length))
            out.append((value, length))
    return out


def _attributes(rng: random.Random, transit: list[int], v4: bool) -> list[Attribute]:
    hops = rng.randint(1, 12)
    path = [PEER_AS, *rng.sample(transit, hops - 1)]
    if rng.random() < 0.12:  # the origin prepends itself
        path += [path[-1]] * rng.randint(1, 3)
    attrs: list[Attribute] = [
        OriginAttribute(Origin.IGP if rng.random() < 0.9 else Origin.INCOMPLETE),
        AsPath.sequence(path),
    ]
    if v4:
        attrs.append(NextHopAttribute(NEXT_HOP_V4))
    if rng.random() < 0.3:
        attrs.append(MultiExitDisc(rng.randint(0, 1000)))
    n_communities = rng.randint(0, 8)
    if n_communities:
        asns = (PEER_AS, path[-1], rng.choice(transit) & 0xFFFF)
        attrs.append(Communities(tuple(sorted({
            (rng.choice(asns) & 0xFFFF) << 16 | rng.randint(1, 5000)
            for _ in range(n_communities)
        }))))
    if rng.random() < 0.1:
        attrs.append(LargeCommunities(tuple(
            (PEER_AS, rng.randint(1, 20), rng.randint(1, 100000))
            for _ in range(rng.randint(1, 3))
        )))
    return attrs


def generate(v4: int = FULL_V4, v6: int = FULL_V6, seed: int = 1) -> list[bytes]:
    """Build the table.

    Args:
        v4: number of distinct IPv4 prefixes.
        v6: number of distinct IPv6 prefixes.
        seed: random seed; the same arguments always give the same messages.

    Returns:
        Whole UPDATE messages (header included): IPv4 first, then IPv6.
    """
    rng = random.Random(seed)
    ctx = Negotiated.default()
    transit = rng.sample(range(1, 400_000), 60_000)
    per_update = _picker(PER_UPDATE, rng)
    out: list[bytes] = []
    families: tuple[tuple[int, int, Family], ...] = ((v4, 32, IPV4_UNICAST),
                                                     (v6, 128, IPV6_UNICAST))
    k = 0
    for count, bits, family in families:
        prefixes = _prefixes(count, bits, rng)
        afi = family.afi
        i = 0
        while i < count:
            n = per_update[k & 0xFFFF]
            k += 1
            nlri = [Nlri(afi, value, length) for value, length in prefixes[i : i + n]]
            i += n
            attrs = _attributes(rng, transit, bits == 32)
            if bits == 32:
                out += pack_updates(attrs, nlri, ctx, family)
            else:
                out += pack_updates(attrs, nlri, ctx, family, next_hops=(NEXT_HOP_V6,))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--v4", type=int, default=FULL_V4, help="IPv4 prefixes")
    parser.add_argument("--v6", type=int, default=FULL_V6, help="IPv6 prefixes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="-", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    data = b"".join(generate(args.v4, args.v6, args.seed))
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.out, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
