#!/usr/bin/env python3
"""Links against bare TCP (issue 10; called by switch-iperf.sh with REPORT=links, which
tests/bench/link-vs-tcp.sh sets).

Subcommand:
  report RESULTS.jsonl ...   one BENCHMARKS.md section: per path the median throughput, its
                             ratios to the bare TCP paths (medians, and paired per round), the
                             CPU seconds per GB of every process on the path (switches,
                             Prosody) and every run.

The records are bench.py's record-tcp ones (measure "tcp"); a path's processes are the
`--proc-ticks` it recorded.
"""

import argparse
import json
import sys

from bench import (
    add_report_args,
    anomalies,
    anomalies_text,
    fmt,
    median,
    paired,
    ratio,
    section_head,
    write_section,
)

BARE = ("bare_lo", "bare_veth")


def systems_of(recs):
    out = []
    for r in recs:
        if r["system"] not in out:
            out.append(r["system"])
    return out


def proc_names(runs):
    return sorted({k for r in runs for k in r.get("proc_cpu_s") or {}})


def summarize(recs, systems):
    """Per path: runs ok, median Gbit/s, retransmits, idle ping, CPU s/GB per process and of
    all of them (medians over the runs)."""
    out = {}
    for s in systems:
        runs = [r for r in recs if r["system"] == s]
        ok = [r for r in runs if r["ok"]]
        names = proc_names(ok)
        out[s] = {
            "n": len(ok),
            "n_all": len(runs),
            "gbps": median([r.get("gbps") for r in ok]),
            "retrans": median([r.get("retrans") for r in ok]),
            "ping": median([r.get("ping_ms") for r in ok]),
            "proc": {n: median([(r.get("proc_cpu_s_per_gb") or {}).get(n) for r in ok]) for n in names},
            # how busy each process was: a single-threaded one near 100 % is the bottleneck
            "busy": {n: median([busy_pct(r, n) for r in ok]) for n in names},
            "total": median([sum((r.get("proc_cpu_s_per_gb") or {}).values()) if names else None for r in ok]),
        }
    return out


def busy_pct(r, name):
    cpu = (r.get("proc_cpu_s") or {}).get(name)
    return None if cpu is None or not r.get("seconds") else 100 * cpu / r["seconds"]


def procs_txt(d, spec):
    return ", ".join(f"{k} {fmt(d[k], spec)}" for k in sorted(d)) or "-"


def medians_table(m, systems, bases):
    out = [
        "### Medians per path\n",
        "| path | runs ok | Gbit/s | "
        + " | ".join(f"÷ {b}" for b in bases)
        + " | CPU s/GB per process | CPU s/GB, all of them | CPU % of one core per process "
        "| retrans | idle ping ms |",
        "|---|---|---|" + "---|" * len(bases) + "---|---|---|---|---|",
    ]
    for s in systems:
        x = m[s]
        rs = " | ".join(
            f"{fmt(ratio(x['gbps'], m[b]['gbps']), '.3f')}" if b in m else "-" for b in bases
        )
        out.append(
            f"| {s} | {x['n']}/{x['n_all']} | {fmt(x['gbps'])} | {rs} | {procs_txt(x['proc'], '.3f')} "
            f"| {fmt(x['total'], '.3f')} | {procs_txt(x['busy'], '.0f')} | {fmt(x['retrans'], '.0f')} | {fmt(x['ping'], '.3f')} |"
        )
    out.append("")
    return out


def paired_table(recs, systems, bases):
    out = [
        "### Throughput ratios to bare TCP, paired per round\n",
        "Each round's throughput of the path divided by the same round's bare TCP throughput.\n",
        "| path | " + " | ".join(f"÷ {b} per round" for b in bases) + " |",
        "|---|" + "---|" * len(bases),
    ]
    for s in systems:
        if s in bases:
            continue
        cells = []
        for b in bases:
            tr, _ = paired(recs, s, b)
            cells.append(", ".join(fmt(x, ".3f") for x in tr) or "-")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def runs_table(recs):
    out = [
        "### Every run\n",
        "| round | order | path | Gbit/s | GB recv | retrans | min 1-s Gbit/s | CPU s per process "
        "| master's switch in/out pkts | load1 | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        sw = r.get("sw")
        out.append(
            f"| {r['round']} | {r['order']} | {r['system']} | {fmt(r.get('gbps'))} "
            f"| {fmt(None if r.get('bytes') is None else r['bytes'] / 1e9)} | {fmt(r.get('retrans'), 'd')} "
            f"| {fmt(r.get('min_interval_gbps'))} | {procs_txt(r.get('proc_cpu_s') or {}, '.2f')} "
            f"| {'-' if not sw else str(sw['in_pkts']) + '/' + str(sw['out_pkts'])} "
            f"| {fmt(r.get('load1'))} | {r.get('error') or ''} |"
        )
    out.append("")
    return out


def report(a):
    with open(a.results) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    recs = [r for r in recs if r.get("measure") == "tcp"]
    systems = systems_of(recs)
    bases = [b for b in BARE if b in systems]
    m = summarize(recs, systems)
    body = medians_table(m, systems, bases) + paired_table(recs, systems, bases) + runs_table(recs)
    found = anomalies(recs)
    text = "\n".join(body)
    print(text)
    if found:
        print("Anomalies:\n  " + "\n  ".join(found))
    if a.md:
        section = section_head(a) + [text] + anomalies_text(found)
        write_section(a.md, a.title, "\n".join(x for x in section if x is not None))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    add_report_args(sub.add_parser("report"), "tcp")
    a = p.parse_args()
    if a.cmd == "report":
        report(a)


if __name__ == "__main__":
    sys.exit(main())
