#!/usr/bin/env python3
"""The benchmark suite's records and report (issue 10; called by switch-iperf.sh with
REPORT=suite, which tests/bench/run.sh sets).

Subcommands:
  record-latency OUT.jsonl ...    RTTs of one `ping -i 0.01` run -> one JSON line
  record-callgrind OUT.jsonl ...  instructions of the switch (callgrind dumps) per frame
                                  it received -> one JSON line
  report RESULTS.jsonl ...        one BENCHMARKS.md section with every measure (tcp, udp,
                                  latency, callgrind): per-system medians, ratios to
                                  vde_switch and to the Linux bridge, the targets, every
                                  run, and PNG plots (matplotlib) in --plot-dir

The tcp and udp records come from bench.py's record-tcp.
"""

import argparse
import json
import os
import re
import statistics
import sys

from bench import fmt, median, ratio, section_head, write_section

# ---------------------------------------------------------------------------
# records


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def percentile(xs, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def record_latency(a):
    rtts = []
    try:
        with open(a.ping) as f:
            for line in f:
                m = re.search(r"time=([\d.]+) ms", line)
                if m:
                    rtts.append(float(m.group(1)))
    except OSError:
        pass
    rec = {"measure": "latency", "system": a.system, "round": a.round, "order": a.order,
           "load1": a.load1, "sent": a.count, "received": len(rtts), "rtt_ms": rtts,
           "ok": bool(rtts), "error": None if rtts else "no ping replies"}
    if rtts:
        rec["p50_ms"] = percentile(rtts, 50)
        rec["p99_ms"] = percentile(rtts, 99)
    append(a.out, rec)
    print(f"round {a.round} {a.system}: ping {len(rtts)}/{a.count} replies, "
          f"p50 {fmt(rec.get('p50_ms'), '.3f')} ms, p99 {fmt(rec.get('p99_ms'), '.3f')} ms")


def callgrind_totals(path):
    """The instruction total (Ir) of one callgrind dump."""
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    return None


def record_callgrind(a):
    rec = {"measure": "callgrind", "system": a.system, "round": a.round, "order": a.order,
           "rate": a.rate, "error": a.error or None, "ok": False}
    dumps = [d for d in a.dumps if os.path.exists(d) and re.search(r"\.\d+$", d)]
    ir = [callgrind_totals(d) for d in dumps]
    ir = [x for x in ir if x is not None]
    rec["instructions"] = sum(ir) if ir else None
    b = json.loads(a.counters_before) if a.counters_before else None
    c = json.loads(a.counters_after) if a.counters_after else None
    if b and c:
        rec["frames_in"] = c["in_pkts"] - b["in_pkts"]
        rec["frames_out"] = c["out_pkts"] - b["out_pkts"]
    if rec["instructions"] and rec.get("frames_in"):
        rec["ir_per_frame"] = rec["instructions"] / rec["frames_in"]
        rec["ok"] = rec["error"] is None
    elif rec["error"] is None:
        rec["error"] = f"no callgrind dump ({a.dumps}) or no frames counted"
    append(a.out, rec)
    print(f"round {a.round} {a.system}: {rec['instructions']} instructions for "
          f"{rec.get('frames_in')} frames in: {fmt(rec.get('ir_per_frame'), '.0f')} per frame"
          + ("" if rec["error"] is None else f"  ERROR: {rec['error']}"))


# ---------------------------------------------------------------------------
# report

BASE = "vde_switch"
BRIDGE = "bridge"


def by_system(recs, measure):
    out = {}
    for r in recs:
        if r.get("measure") == measure:
            out.setdefault(r["system"], []).append(r)
    return out


def med_of(runs, key):
    return median([r.get(key) for r in runs if r.get("ok")])


def summarize(recs, systems):
    """{system: {figure: median}} over the runs that succeeded."""
    tcp, udp = by_system(recs, "tcp"), by_system(recs, "udp")
    lat, cg = by_system(recs, "latency"), by_system(recs, "callgrind")
    s = {}
    for name in systems:
        t, u, l, c = tcp.get(name, []), udp.get(name, []), lat.get(name, []), cg.get(name, [])
        s[name] = {
            "tcp_runs": f"{sum(r['ok'] for r in t)}/{len(t)}",
            "gbps": med_of(t, "gbps"),
            "cpu_gb": med_of(t, "cpu_s_per_gb"),
            "tcp_us_frame": med_of(t, "cpu_us_per_frame"),
            "udp_runs": f"{sum(r['ok'] for r in u)}/{len(u)}",
            "kfps": None if med_of(u, "fps") is None else med_of(u, "fps") / 1e3,
            "sent_kfps": None if med_of(u, "sent_fps") is None else med_of(u, "sent_fps") / 1e3,
            "udp_us_frame": med_of(u, "cpu_us_per_frame"),
            "udp_us_delivered": med_of(u, "cpu_us_per_delivered"),
            "p50": med_of(l, "p50_ms"),
            "p99": med_of(l, "p99_ms"),
            "ir_frame": med_of(c, "ir_per_frame"),
            "load1": median([r.get("load1") for r in t + u + l]),
        }
    return s


FIGURES = [
    # key, heading, format, higher is better
    ("gbps", "TCP Gbit/s", ".2f", True),
    ("cpu_gb", "TCP switch CPU s/GB", ".3f", False),
    ("tcp_us_frame", "TCP switch CPU µs/frame", ".2f", False),
    ("kfps", "UDP 64 B kframes/s received", ".0f", True),
    ("udp_us_frame", "UDP switch CPU µs/frame in", ".2f", False),
    ("udp_us_delivered", "UDP switch CPU µs/frame delivered", ".2f", False),
    ("p50", "ping p50 ms", ".3f", False),
    ("p99", "ping p99 ms", ".3f", False),
    ("ir_frame", "callgrind instructions/frame", ".0f", False),
]


def medians_table(s, systems):
    out = ["| system | " + " | ".join(h for _, h, _, _ in FIGURES) + " | runs ok tcp/udp | median load1 |",
           "|---|" + "---|" * (len(FIGURES) + 2)]
    for name in systems:
        m = s[name]
        out.append(f"| {name} | " + " | ".join(fmt(m[k], f) for k, _, f, _ in FIGURES)
                   + f" | {m['tcp_runs']}, {m['udp_runs']} | {fmt(m['load1'])} |")
    return out


def ratios_table(s, systems, base):
    out = [f"| system / {base} | " + " | ".join(h for _, h, _, _ in FIGURES) + " |",
           "|---|" + "---|" * len(FIGURES)]
    for name in systems:
        if name == base or base not in s:
            continue
        cells = []
        for k, _, _, _ in FIGURES:
            r = ratio(s[name][k], s[base][k])
            cells.append("-" if r is None else f"{r:.2f}×")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def verdict(x, ok):
    if x is None:
        return "not measured"
    return f"{x:.2f}× — {'met' if ok(x) else 'NOT met'}"


def targets(s, ours, ours_tap):
    def r(sys_, k, base=BASE):
        if sys_ not in s or base not in s:
            return None
        return ratio(s[sys_][k], s[base][k])

    return [
        "| target (DESIGN.md, issue 10) | figure | this run |",
        "|---|---|---|",
        f"| switch CPU per forwarded frame ≤ 1/3 of vde_switch's | `{ours}`, TCP, /proc µs per frame | {verdict(r(ours, 'tcp_us_frame'), lambda x: x <= 1 / 3)} |",
        f"| (same, load-independent) | `{ours}`, callgrind user-space instructions per frame | {verdict(r(ours, 'ir_frame'), lambda x: x <= 1 / 3)} |",
        f"| (same, small frames) | `{ours}`, UDP 64 B, /proc µs per frame in | {verdict(r(ours, 'udp_us_frame'), lambda x: x <= 1 / 3)} |",
        f"| throughput on the vde_plug2tap harness ≥ vde_switch's | `{ours}`, TCP Gbit/s | {verdict(r(ours, 'gbps'), lambda x: x >= 1)} |",
        f"| with direct tap ports ≥ 2× vde_switch (+ vde_plug2tap) | `{ours_tap}`, TCP Gbit/s | {verdict(r(ours_tap, 'gbps'), lambda x: x >= 2)} |",
        f"| small-frame rate ≥ 2× vde_switch's | `{ours}`, UDP 64 B frames/s | {verdict(r(ours, 'kfps'), lambda x: x >= 2)} |",
        f"| (same, direct tap ports) | `{ours_tap}`, UDP 64 B frames/s | {verdict(r(ours_tap, 'kfps'), lambda x: x >= 2)} |",
        f"| moonshot: within 2× of the Linux bridge (ratio ≥ 0.5) | `{ours_tap}` / bridge, TCP Gbit/s | {verdict(r(ours_tap, 'gbps', BRIDGE), lambda x: x >= 0.5)} |",
        f"| (same, small frames) | `{ours_tap}` / bridge, UDP 64 B frames/s | {verdict(r(ours_tap, 'kfps', BRIDGE), lambda x: x >= 0.5)} |",
    ]


def runs_tables(recs):
    out = ["#### TCP and UDP runs\n",
           "| round | order | system | measure | Gbit/s | kframes/s recv (sent) | switch CPU s | s/GB | µs/frame in | switch in/out pkts | plug2tap CPU s | load1 | note |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if r.get("measure") not in ("tcp", "udp"):
            continue
        sw = r.get("sw")
        swtxt = "-" if not sw else f"{sw['in_pkts']}/{sw['out_pkts']}"
        kf = "-" if r.get("fps") is None else f"{r['fps'] / 1e3:.0f} ({r['sent_fps'] / 1e3:.0f})"
        out.append(f"| {r['round']} | {r['order']} | {r['system']} | {r['measure']} | {fmt(r.get('gbps'), '.3f')} "
                   f"| {kf} | {fmt(r.get('sw_cpu_s'))} | {fmt(r.get('cpu_s_per_gb'), '.3f')} "
                   f"| {fmt(r.get('cpu_us_per_frame'))} | {swtxt} | {fmt(r.get('plug_cpu_s'))} "
                   f"| {fmt(r.get('load1'))} | {r.get('error') or ''} |")
    out += ["", "#### Latency runs\n", "| round | system | replies | p50 ms | p99 ms | max ms | load1 |",
            "|---|---|---|---|---|---|---|"]
    for r in recs:
        if r.get("measure") == "latency":
            mx = max(r["rtt_ms"]) if r.get("rtt_ms") else None
            out.append(f"| {r['round']} | {r['system']} | {r['received']}/{r['sent']} | {fmt(r.get('p50_ms'), '.3f')} "
                       f"| {fmt(r.get('p99_ms'), '.3f')} | {fmt(mx, '.3f')} | {fmt(r.get('load1'))} |")
    out += ["", "#### Callgrind runs\n", "| system | UDP rate (iperf3 -b) | instructions | frames in/out | instructions per frame in | note |",
            "|---|---|---|---|---|---|"]
    for r in recs:
        if r.get("measure") == "callgrind":
            out.append(f"| {r['system']} | {r['rate']} | {fmt(r.get('instructions'), 'd')} "
                       f"| {fmt(r.get('frames_in'), 'd')}/{fmt(r.get('frames_out'), 'd')} "
                       f"| {fmt(r.get('ir_per_frame'), '.0f')} | {r.get('error') or ''} |")
    out.append("")
    return out


# ---------------------------------------------------------------------------
# plots


def plots(recs, s, systems, plot_dir, stem):
    """Two small PNGs: the bar charts of every figure, the latency CDFs. Returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plot_dir, exist_ok=True)
    paths = []
    panels = [("tcp", "gbps", "TCP throughput, Gbit/s", 1),
              ("udp", "fps", "UDP 64 B frames/s received, thousands", 1e-3),
              ("tcp", "cpu_s_per_gb", "switch CPU s per GB (TCP)", 1),
              ("udp", "cpu_us_per_frame", "switch CPU µs per frame (UDP 64 B)", 1)]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), dpi=72)
    for ax, (measure, key, title, scale) in zip(axes.flat, panels):
        runs = by_system(recs, measure)
        names = [n for n in systems if any(r.get(key) is not None for r in runs.get(n, []))]
        meds = [(median([r.get(key) for r in runs[n] if r.get("ok")]) or 0) * scale for n in names]
        ax.bar(range(len(names)), meds, color="#7aa6c2")
        for i, n in enumerate(names):
            pts = [r[key] * scale for r in runs[n] if r.get(key) is not None]
            ax.plot([i] * len(pts), pts, "k.", markersize=4)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=20, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle("bars: medians; dots: single runs", fontsize=8)
    fig.tight_layout()
    p = os.path.join(plot_dir, f"{stem}-throughput-cpu.png")
    fig.savefig(p)
    plt.close(fig)
    paths.append(p)
    lat = by_system(recs, "latency")
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=72)
    for n in systems:
        rtts = sorted(x for r in lat.get(n, []) for x in r.get("rtt_ms", []))
        if rtts:
            ax.plot(rtts, [(i + 1) / len(rtts) for i in range(len(rtts))], label=n)
    ax.set_xscale("log")
    ax.set_xlabel("ping RTT, ms (log)", fontsize=8)
    ax.set_ylabel("fraction of pings", fontsize=8)
    ax.set_title("Latency at low load: ping -i 0.01, all rounds", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = os.path.join(plot_dir, f"{stem}-latency.png")
    fig.savefig(p)
    plt.close(fig)
    paths.append(p)
    return paths


def report(a):
    with open(a.results) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    systems = []
    for r in recs:
        if r["system"] not in systems:
            systems.append(r["system"])
    s = summarize(recs, systems)
    ours_tap = "ours_tap"
    body = ["### Medians per system\n"] + medians_table(s, systems) + [""]
    for base in (BASE, BRIDGE):
        if base in s:
            body += [f"### Ratios to {base} (medians; for CPU and latency lower is better)\n"]
            body += ratios_table(s, systems, base) + [""]
    body += ["### Targets\n"] + targets(s, a.ours, ours_tap) + [""]
    loads = [r.get("load1") for r in recs if r.get("load1") is not None]
    if loads:
        body.append(f"Machine load during the wall-clock runs (1-min load average at their start, 2 cores, "
                    f"other helpers' builds and tests running): min {min(loads):.2f}, median "
                    f"{statistics.median(loads):.2f}, max {max(loads):.2f}. Callgrind's counts do not "
                    f"depend on it.\n")
    if a.plot_dir:
        try:
            paths = plots(recs, s, systems, a.plot_dir, a.plot_stem)
        except ImportError as e:
            body.append(f"(plots skipped: {e})\n")
        else:
            md_dir = os.path.dirname(os.path.abspath(a.md)) if a.md else os.getcwd()
            for p in paths:
                rel = os.path.relpath(os.path.abspath(p), md_dir)
                body.append(f"![{os.path.basename(p)}]({rel})\n")
    body += ["### Every run\n"] + runs_tables(recs)
    text = "\n".join(body)
    print(text)
    if a.md:
        head = section_head(a)
        head[1] = head[1].replace("strace/perf output", "ping output, callgrind dumps")
        write_section(a.md, a.title, "\n".join(x for x in head + [a.measures_text, text] if x))


MEASURES_TEXT = """Measures, per system and round (a fresh switch and fresh namespaces for each; the order of the systems rotates every round):
- **tcp**: `iperf3 -c A -t T -J` from namespace B to A. Switch CPU = utime+stime of the switch process (all threads) from `/proc/PID/stat` over the run; per GB of iperf3 payload received, and per frame the switch took in (its own `port/print` IN counters).
- **udp**: `iperf3 -u -l 64 -b 0` (one sender as fast as it can, 64-byte payloads: 106-byte Ethernet frames); frames/s = datagrams the iperf3 server received per second; switch CPU per frame it took in, and per frame delivered end to end. The sender and the whole path share the 2 cores, so this measures the path's cost as much as the switch's.
- **latency**: 500 pings 10 ms apart from B to A with no other traffic; p50/p99 of the RTTs.
- **callgrind**: the switch runs under `valgrind --tool=callgrind`; its counters are zeroed, then UDP 64-byte datagrams at a fixed low rate (`iperf3 -u -l 64 -b RATE`) flow for T seconds, then the counters are dumped: user-space instructions per frame the switch took in. It counts only user-space instructions (the kernel's share of each send and receive, most of a switch's cost here, is not in it) and is independent of the machine's load; round 1 only.
- The Linux bridge has no process: its CPU columns are empty, and its figures are the reference for the moonshot.
"""


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("record-latency")
    l.add_argument("out")
    l.add_argument("--system", required=True)
    l.add_argument("--round", type=int, required=True)
    l.add_argument("--order", type=int, required=True)
    l.add_argument("--ping", required=True)
    l.add_argument("--count", type=int, required=True)
    l.add_argument("--load1", type=float)
    c = sub.add_parser("record-callgrind")
    c.add_argument("out")
    c.add_argument("--system", required=True)
    c.add_argument("--round", type=int, required=True)
    c.add_argument("--order", type=int, required=True)
    c.add_argument("--dumps", nargs="*", default=[])
    c.add_argument("--counters-before")
    c.add_argument("--counters-after")
    c.add_argument("--rate", default="")
    c.add_argument("--error", default="")
    r = sub.add_parser("report")
    r.add_argument("results")
    r.add_argument("--ours", default="ours")
    r.add_argument("--md")
    r.add_argument("--plot-dir")
    r.add_argument("--plot-stem", default="issue10")
    r.add_argument("--title", default="Benchmark suite (issue 10)")
    r.add_argument("--date", default="")
    r.add_argument("--machine", default="")
    r.add_argument("--commit", default="")
    r.add_argument("--command", default="")
    r.add_argument("--notes", default="")
    r.add_argument("--measures-text", default=MEASURES_TEXT)
    a = p.parse_args()
    if a.cmd == "record-latency":
        record_latency(a)
    elif a.cmd == "record-callgrind":
        record_callgrind(a)
    elif a.cmd == "report":
        report(a)


if __name__ == "__main__":
    sys.exit(main())
