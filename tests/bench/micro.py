#!/usr/bin/env python3
"""Criterion's estimates (target/criterion/GROUP/BENCH/new/*.json) as a BENCHMARKS.md section.

usage: micro.py CRITERION_DIR [--md BENCHMARKS.md] [--command CMD]

One row per benchmark: the median time per element (criterion's median of the iteration
times divided by the elements per iteration it was told) and elements per second.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys

from bench import write_section

TITLE = "Micro benchmarks: MAC table, forwarding decision, decoders (issue 10)"

WHAT = {
    "fdb_1e6/lookup_hit": "MAC table with 10^6 entries: lookup of a present address",
    "fdb_1e6/lookup_miss": "MAC table with 10^6 entries: lookup of an absent address",
    "fdb_1e6/learn_refresh": "MAC table with 10^6 entries: learn of a known address (every frame's source)",
    "fdb_1e6/learn_new_evicting": "MAC table full at 10^6: learn of a new address, evicting the oldest",
    "switch_64_ports/decide_unicast_all_to_all": "64 ports all talking: one unicast decision (learn + lookup + counters)",
    "switch_64_ports/decide_broadcast_flood_63_copies": "64 ports: one broadcast decision (63 egress copies)",
    "decode/stream_u16_1514B_frames_64KiB_reads": "stream link decoder: one 1514-byte frame out of 64 KiB reads",
    "decode/vde_request": "VDE v3 control request parse",
}


def rows(root):
    out = []
    for est in sorted(glob.glob(os.path.join(root, "*", "*", "new", "estimates.json"))):
        d = os.path.dirname(est)
        with open(est) as f:
            e = json.load(f)
        with open(os.path.join(d, "benchmark.json")) as f:
            b = json.load(f)
        elems = (b.get("throughput") or {}).get("Elements") or 1
        ns = e["median"]["point_estimate"] / elems
        lo = e["median"]["confidence_interval"]["lower_bound"] / elems
        hi = e["median"]["confidence_interval"]["upper_bound"] / elems
        out.append((b["full_id"], ns, lo, hi))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--md")
    p.add_argument("--command", default="cargo bench -p f2f-core --bench switching")
    a = p.parse_args()
    rs = rows(a.root)
    if not rs:
        print(f"no criterion results under {a.root}", file=sys.stderr)
        return 1
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    lines = [
        f"## {TITLE}\n",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"kernel {platform.release()}, commit `{commit}`; 1-min load average {load} at the end "
        "(the machine is shared: other helpers' builds and tests run beside it, so treat "
        "single figures as ±20 %).\n",
        "```", a.command, "```\n",
        "Per element: criterion's median iteration time divided by the operations in one "
        "iteration (1024 table operations, or every frame of the set); [95 % interval]. "
        "No I/O: the core alone, with foldhash (fixed seed) as the table's hasher as in the switch.\n",
        "| benchmark | what | ns per op [95 %] | million ops/s |",
        "|---|---|---|---|",
    ]
    for name, ns, lo, hi in rs:
        lines.append(f"| `{name}` | {WHAT.get(name, '')} | {ns:.1f} [{lo:.1f}, {hi:.1f}] | {1e3 / ns:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.md:
        write_section(a.md, TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
