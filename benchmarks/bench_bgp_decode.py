"""Decode speed of UPDATE messages carrying many plain unicast NLRI (DESIGN §8 format).

Uses the synthetic full table of ``benchmarks/gen_table.py`` (default 950k IPv4 + 220k IPv6
prefixes, about 400k UPDATEs, nearly one attribute set per UPDATE). Times
``split_messages`` + ``decode_message`` over the byte stream, then the same plus reading
every prefix as integers, then plus building every ``Nlri`` object. The fastest of
``--repeat`` runs is reported.

    PYTHONPATH=. python3 benchmarks/bench_bgp_decode.py --json [--v4 950000 --v6 220000]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time

from benchmarks.gen_table import generate
from netlinkbgp.bgp import Negotiated, Update, decode_message, split_messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--v4", type=int, default=950_000)
    parser.add_argument("--v6", type=int, default=220_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each pass; the fastest is reported (shared machines)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    stream = b"".join(generate(args.v4, args.v6, args.seed))
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
