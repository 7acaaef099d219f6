"""Decode speed of UPDATE messages carrying many plain unicast NLRI (DESIGN §8 format).

Builds a synthetic table (default 950k IPv4 + 220k IPv6 prefixes, one to five prefixes per
attribute set, about 390k UPDATEs) with ``pack_updates``, as one peer would send it: one next
hop per family, random AS paths (2-7 ASes of 1..400000), random communities and MEDs 0-100.
Times ``split_messages`` + ``decode_message`` over the byte stream, then the same plus
reading every prefix as integers, then plus building every ``Nlri`` object. The fastest of
``--repeat`` runs is reported.

    python3 benchmarks/bench_bgp_decode.py --json [--v4 950000 --v6 220000 --per-set 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import time
from ipaddress import IPv4Address, IPv6Address

from netlinkbgp.bgp import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AsPath,
    Communities,
    MultiExitDisc,
    Negotiated,
    NextHopAttribute,
    Nlri,
    OriginAttribute,
    Update,
    decode_message,
    pack_updates,
    split_messages,
)
from netlinkbgp.route import Origin


def build(v4: int, v6: int, per_set: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    ctx = Negotiated.default()
    out: list[bytes] = []
    for afi_count, bits, family in ((v4, 32, IPV4_UNICAST), (v6, 128, IPV6_UNICAST)):
        made = 0
        while made < afi_count:
            n = min(rng.randint(1, 2 * per_set - 1), afi_count - made)
            prefixes = []
            for _ in range(n):
                length = rng.choice((24, 24, 24, 22, 23, 20, 16)) if bits == 32 else \
                    rng.choice((48, 48, 44, 40, 32, 36))
                value = rng.getrandbits(length) << (bits - length)
                prefixes.append(Nlri(family.afi, value, length))
            path = AsPath.sequence([rng.randint(1, 400000) for _ in range(rng.randint(2, 7))])
            communities = tuple(rng.getrandbits(32) for _ in range(rng.randint(1, 6)))
            attrs = [OriginAttribute(Origin.IGP), path, Communities(communities),
                     MultiExitDisc(rng.randint(0, 100))]
            if bits == 32:  # one peer: one next hop per family
                attrs.insert(2, NextHopAttribute(IPv4Address("192.0.2.1")))
                out += pack_updates(attrs, prefixes, ctx, family)
            else:
                out += pack_updates(attrs, prefixes, ctx, family,
                                    next_hops=(IPv6Address("2001:db8::1"),))
            made += n
    return b"".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--v4", type=int, default=950_000)
    parser.add_argument("--v6", type=int, default=220_000)
    parser.add_argument("--per-set", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each pass; the fastest is reported (shared machines)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    stream = build(args.v4, args.v6, args.per_set)
    ctx = Negotiated.default()
    gc.collect()
    t0 = time.perf_counter()
    messages, rest = split_messages(stream, ctx.max_message_size)
    split_seconds = time.perf_counter() - t0

    def decode_only() -> int:  # the NLRI are scanned and kept as canonical bytes
        count = 0
        for m in messages:
            u = decode_message(m, ctx)
            assert isinstance(u, Update)
            count += len(u.nlri)
            reach = u.mp_reach
            if reach is not None:
                count += len(reach.nlri)
        return count

    def decode_packed() -> int:  # and read every prefix as (value, length, path id)
        count = 0
        for m in messages:
            u = decode_message(m, ctx)
            assert isinstance(u, Update)
            count += len(u.nlri.packed())
            reach = u.mp_reach
            if reach is not None:
                count += len(reach.nlri.packed())
        return count

    def decode_objects() -> int:  # and build every Nlri object
        count = 0
        for m in messages:
            u = decode_message(m, ctx)
            assert isinstance(u, Update)
            count += len(list(u.nlri))
            reach = u.mp_reach
            if reach is not None:
                count += len(list(reach.nlri))
        return count

    timings = {}
    for name, run in (("bgp_decode_updates", decode_only),
                      ("bgp_decode_updates_packed", decode_packed),
                      ("bgp_decode_updates_objects", decode_objects)):
        best = float("inf")
        for _ in range(args.repeat):
            gc.collect()
            start = time.perf_counter()
            items = run()
            best = min(best, time.perf_counter() - start + split_seconds)
        timings[name] = (items, best)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    results = [
        {"bench": name, "impl": "netlinkbgp", "items": items, "messages": len(messages),
         "seconds": round(seconds, 3), "per_second": round(items / seconds),
         "split_seconds": round(split_seconds, 3), "peak_rss_bytes": rss}
        for name, (items, seconds) in timings.items()
    ]
    assert not rest
    for r in results:
        print(json.dumps(r) if args.json else r)


if __name__ == "__main__":
    main()
