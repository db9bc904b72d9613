#!/usr/bin/env python3
"""Helpers for the system benchmarks in tests/bench (called by switch-iperf.sh).

Subcommands:
  counters SOCK              sum of the IN/OUT pkts/bytes counters of `port/print` on a
                             vde_switch-style management socket; prints JSON (or null).
  console SOCK CMD           send one console command, print the raw reply.
  record-tcp OUT.jsonl ...   turn one iperf3 -J result plus the CPU/counter snapshots taken
                             by the shell into one JSON line appended to OUT.jsonl
                             (--udp-len N: a UDP run of N-byte datagrams, measure "udp").
  report RESULTS.jsonl ...   per-run table, medians per system, ratios; optionally
                             writes/replaces a section of BENCHMARKS.md.

Units: GB = 10^9 bytes of iperf3 payload received by the server; Gbit/s = 10^9 bit/s.
"""

import argparse
import json
import re
import socket
import statistics
import sys
import time

# ---------------------------------------------------------------------------
# management console


def console(sock_path, cmd, timeout=3.0):
    """One command on a vde_switch-style console; returns the reply text (without banner)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"$ "):  # banner, then the "vde$ " prompt
        if time.monotonic() > deadline:
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.sendall(cmd.encode() + b"\n")
    buf = b""
    final = re.compile(rb"^(1\d{3}) [^\n]*\n", re.M)
    while not final.search(buf):
        if time.monotonic() > deadline:
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode(errors="replace")


def counters(sock_path):
    """Totals over the ports of `port/print`, or None when the console cannot tell."""
    try:
        text = console(sock_path, "port/print")
    except OSError:
        return None
    tot = {"in_pkts": 0, "in_bytes": 0, "out_pkts": 0, "out_bytes": 0, "ports": 0}
    found = False
    for m in re.finditer(r"(IN|OUT):\s+pkts\s+(\d+)\s+bytes\s+(\d+)", text):
        d = m.group(1).lower()
        tot[d + "_pkts"] += int(m.group(2))
        tot[d + "_bytes"] += int(m.group(3))
        if d == "in":
            tot["ports"] += 1
        found = True
    return tot if found else None


# ---------------------------------------------------------------------------
# one run -> one record


def record_tcp(a):
    rec = {
        "measure": "udp" if a.udp_len else "tcp",
        "system": a.system,
        "round": a.round,
        "order": a.order,
        "seconds": a.seconds,
        "load1": a.load1,
        "first_ping_ms": a.first_ping_ms,
        "ping_ms": float(a.ping_ms) if a.ping_ms else None,
        "switch_alive": a.switch_alive == 1,
        "ok": False,
        "error": a.error or None,
    }
    hz = a.clk_tck
    sw_cpu = None if a.sw_ticks is None else a.sw_ticks / hz
    plug_cpu = None if a.plug_ticks is None else a.plug_ticks / hz
    rec["sw_cpu_s"] = sw_cpu
    rec["plug_cpu_s"] = plug_cpu
    rec["sw_ctxsw"] = None if a.sw_ctxsw is None else {"voluntary": a.sw_ctxsw[0], "involuntary": a.sw_ctxsw[1]}
    # the processes a system named (cpu_proc in switch-iperf.sh), each apart
    rec["proc_cpu_s"] = {name: int(ticks) / hz for name, ticks in a.proc_ticks or []}
    try:
        with open(a.client_json) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        rec["error"] = rec["error"] or f"iperf3 client output unreadable: {e}"
        j = None
    if j is not None and j.get("error"):
        rec["error"] = rec["error"] or f"iperf3: {j['error']}"
    if j is not None and "end" in j and "sum_received" in j["end"]:
        end = j["end"]
        got = end["sum_received"]["bytes"]
        rec["bytes"] = got
        rec["gbps"] = end["sum_received"]["bits_per_second"] / 1e9
        rec["retrans"] = end.get("sum_sent", {}).get("retransmits")
        ivals = [iv["sum"]["bits_per_second"] / 1e9 for iv in j.get("intervals", [])]
        rec["interval_gbps"] = [round(x, 3) for x in ivals]
        rec["min_interval_gbps"] = min(ivals) if ivals else None
        # a stall: a 1-s interval under 10 % of the run's mean throughput
        rec["stall_intervals"] = sum(1 for x in ivals if x < 0.1 * rec["gbps"])
        if a.udp_len:
            # datagrams the server received (sum_received.packets counts the sent ones)
            frames = got / a.udp_len
            rec["frames"] = frames
            rec["fps"] = frames / end["sum_received"]["seconds"]
            sent = end.get("sum_sent", {})
            rec["sent_fps"] = sent.get("bytes", 0) / a.udp_len / max(sent.get("seconds", 0), 1e-9)
            if sw_cpu is not None and frames > 0:
                # end to end: switch CPU per datagram that reached the receiver
                rec["cpu_us_per_delivered"] = sw_cpu * 1e6 / frames
        gb = got / 1e9
        if gb > 0:
            rec["cpu_s_per_gb"] = None if sw_cpu is None else sw_cpu / gb
            rec["plug_cpu_s_per_gb"] = None if plug_cpu is None else plug_cpu / gb
            rec["proc_cpu_s_per_gb"] = {k: v / gb for k, v in rec["proc_cpu_s"].items()}
        rec["ok"] = rec["error"] is None and got > 0 and rec["switch_alive"]
    if a.counters_before and a.counters_after:
        b, c = json.loads(a.counters_before), json.loads(a.counters_after)
        if b is not None and c is not None:
            d = {k: c[k] - b[k] for k in ("in_pkts", "in_bytes", "out_pkts", "out_bytes")}
            rec["sw"] = d
            # frames the switch took in but did not send out (2 ports, unicast: ~drops)
            rec["sw_lost_pkts"] = d["in_pkts"] - d["out_pkts"]
            if d["in_pkts"] > 0:
                # DESIGN.md's metric: switch CPU per forwarded frame
                rec["cpu_us_per_frame"] = None if sw_cpu is None else sw_cpu * 1e6 / d["in_pkts"]
                if a.sw_user_ticks is not None:
                    rec["user_us_per_frame"] = a.sw_user_ticks / hz * 1e6 / d["in_pkts"]
                if a.sw_ctxsw is not None:
                    rec["ctxsw_per_frame"] = sum(a.sw_ctxsw) / d["in_pkts"]
                    rec["ctxsw_vol_per_frame"] = a.sw_ctxsw[0] / d["in_pkts"]
    if a.switch_log:
        try:
            with open(a.switch_log, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", l) for l in lines]  # tracing's colours
        bad = [l for l in lines if re.search(r"\b(WARN|ERROR)\b|panicked|[Ee]rror:", l)]
        rec["switch_log_lines"] = len(lines)
        rec["switch_log_warnings"] = len(bad)
        rec["switch_log_sample"] = bad[:3]
    if a.links_before and a.links_after:
        lb, la = json.loads(a.links_before), json.loads(a.links_after)
        rec["link_drops"] = {
            k: None if lb.get(k) is None or la.get(k) is None else la[k] - lb[k] for k in la
        }
    if not rec["switch_alive"] and rec["error"] is None:
        rec["error"] = "switch process died during the run"
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(summary_line(rec))


def drops_txt(r):
    d = r.get("link_drops")
    if not d:
        return "-"
    return f"{fmt(d.get('a_rx'), 'd')}/{fmt(d.get('a_tx'), 'd')}, {fmt(d.get('b_rx'), 'd')}/{fmt(d.get('b_tx'), 'd')}"


def fmt(x, spec=".2f", none="-"):
    return none if x is None else format(x, spec)


def summary_line(r):
    return (
        f"round {r['round']} #{r['order']} {r['system']:<16} "
        + (
            f"{fmt(r.get('gbps'))} Gbit/s, switch CPU {fmt(r.get('sw_cpu_s'))} s "
            f"({fmt(r.get('cpu_s_per_gb'), '.3f')} s/GB), plug2tap CPU {fmt(r.get('plug_cpu_s'))} s, "
            f"retrans {fmt(r.get('retrans'), 'd')}, min 1-s {fmt(r.get('min_interval_gbps'))} Gbit/s"
            if r.get("gbps") is not None
            else "no result"
        )
        + ("" if r["error"] is None else f"  ERROR: {r['error']}")
    )


# ---------------------------------------------------------------------------
# report


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def build_report(recs, a):
    systems = []
    for r in recs:
        if r["system"] not in systems:
            systems.append(r["system"])
    out = []
    out.append("### Every run\n")
    out.append(
        "| round | order | system | Gbit/s | GB recv | retrans | min 1-s Gbit/s | stalls "
        "| switch CPU s | switch CPU s/GB | switch CPU µs/frame (user) | switch ctx sw/frame (voluntary) | plug2tap CPU s | plug2tap CPU s/GB "
        "| switch in/out pkts (in−out) | endpoint if drops A rx/tx, B rx/tx | 1st ping ms | switch log warn | load1 | note |"
    )
    out.append("|" + "---|" * 20)
    for r in recs:
        sw = r.get("sw")
        swtxt = "-" if not sw else f"{sw['in_pkts']}/{sw['out_pkts']} ({r['sw_lost_pkts']})"
        note = r["error"] or ""
        out.append(
            f"| {r['round']} | {r['order']} | {r['system']} | {fmt(r.get('gbps'))} "
            f"| {fmt(None if r.get('bytes') is None else r['bytes'] / 1e9)} "
            f"| {fmt(r.get('retrans'), 'd')} | {fmt(r.get('min_interval_gbps'))} "
            f"| {fmt(r.get('stall_intervals'), 'd')} | {fmt(r.get('sw_cpu_s'))} "
            f"| {fmt(r.get('cpu_s_per_gb'), '.3f')} | {fmt(r.get('cpu_us_per_frame'))} ({fmt(r.get('user_us_per_frame'))}) "
            f"| {fmt(r.get('ctxsw_per_frame'), '.3f')} ({fmt(r.get('ctxsw_vol_per_frame'), '.3f')}) | {fmt(r.get('plug_cpu_s'))} "
            f"| {fmt(r.get('plug_cpu_s_per_gb'), '.3f')} | {swtxt} | {drops_txt(r)} | {fmt(r.get('first_ping_ms'), 'd')} "
            f"| {fmt(r.get('switch_log_warnings'), 'd')} | {fmt(r.get('load1'))} | {note} |"
        )
    out.append("")
    med = {}
    out.append("### Medians per system\n")
    out.append("| system | runs ok | Gbit/s | switch CPU s/GB | switch CPU µs/frame | of which user | switch ctx sw/frame | plug2tap CPU s/GB | retrans | idle ping ms |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for s in systems:
        ok = [r for r in recs if r["system"] == s and r["ok"]]
        m = {
            "n": len(ok),
            "n_all": len([r for r in recs if r["system"] == s]),
            "gbps": median([r.get("gbps") for r in ok]),
            "cpu": median([r.get("cpu_s_per_gb") for r in ok]),
            "plug": median([r.get("plug_cpu_s_per_gb") for r in ok]),
            "usf": median([r.get("cpu_us_per_frame") for r in ok]),
            "uuf": median([r.get("user_us_per_frame") for r in ok]),
            "csf": median([r.get("ctxsw_per_frame") for r in ok]),
            "retrans": median([r.get("retrans") for r in ok]),
            "ping": median([r.get("ping_ms") for r in ok]),
        }
        med[s] = m
        out.append(
            f"| {s}{' (reference)' if s in a.reference else ''} | {m['n']}/{m['n_all']} "
            f"| {fmt(m['gbps'])} | {fmt(m['cpu'], '.3f')} | {fmt(m['usf'])} | {fmt(m['uuf'])} | {fmt(m['csf'], '.3f')} "
            f"| {fmt(m['plug'], '.3f')} "
            f"| {fmt(m['retrans'], '.0f')} | {fmt(m['ping'], '.3f')} |"
        )
    out.append("")
    base = a.baseline
    ratios = {}
    if base in med:
        out.append(f"### Ratios to {base} (medians; paired per round in brackets)\n")
        out.append("| system | throughput ratio | CPU-per-GB ratio | CPU-per-frame ratio |")
        out.append("|---|---|---|---|")
        for s in systems:
            if s == base:
                continue
            tr = ratio(med[s]["gbps"], med[base]["gbps"])
            cr = ratio(med[s]["cpu"], med[base]["cpu"])
            fr = ratio(med[s]["usf"], med[base]["usf"])
            ptr, pcr = paired(recs, s, base)
            ratios[s] = (tr, cr, fr)
            out.append(
                f"| {s} / {base} | {fmt(tr, '.2f', '-')}{'×' if tr else ''} [{', '.join(fmt(x) for x in ptr) or '-'}] "
                f"| {fmt(cr)}{'×' if cr else ''} [{', '.join(fmt(x) for x in pcr) or '-'}] "
                f"| {fmt(fr)}{'×' if fr else ''} |"
            )
        out.append("")
    return "\n".join(out), med, ratios


def paired(recs, s, base):
    """Per-round ratios s/base (both ok in the same round)."""
    tr, cr = [], []
    for rnd in sorted({r["round"] for r in recs}):
        x = [r for r in recs if r["round"] == rnd and r["system"] == s and r["ok"]]
        y = [r for r in recs if r["round"] == rnd and r["system"] == base and r["ok"]]
        if x and y:
            t = ratio(x[0].get("gbps"), y[0].get("gbps"))
            c = ratio(x[0].get("cpu_s_per_gb"), y[0].get("cpu_s_per_gb"))
            if t is not None:
                tr.append(t)
            if c is not None:
                cr.append(c)
    return tr, cr


def targets_text(ratios, a):
    ours = ratios.get(a.ours)
    t, c, fr = ours if ours else (None, None, None)
    if a.aa:
        return (
            "### A/A check\n\n"
            f"`{a.ours}` is the same program as `{a.baseline}` here, so its ratios "
            f"(throughput {fmt(t)}×, CPU per GB {fmt(c)}×) measure the harness's own noise; "
            "a real comparison needs a difference well beyond them.\n"
        )

    def verdict(x, ok):
        if x is None:
            return "not measured"
        return f"{fmt(x)}× — {'met' if ok(x) else 'NOT met'}"

    if a.ours == "ours_link":
        # Issue 6: tap -> switch -> link -> switch -> tap against tap -> one switch -> tap.
        mo, mb = a.medians.get(a.ours, {}), a.medians.get(a.baseline, {})
        added = None if mo.get("ping") is None or mb.get("ping") is None else mo["ping"] - mb["ping"]
        return "\n".join([
            "### Targets\n",
            f"Ratios of `{a.ours}` to `{a.baseline}` (medians of this run):\n",
            "| target | source | this run |",
            "|---|---|---|",
            f"| encrypted link throughput ≥ 0.8× the same path through one switch | issue 6, DESIGN.md | {verdict(t, lambda x: x >= 0.8)} |",
            f"| CPU per GB on the link (both switches) | issue 6 | {fmt(mo.get('cpu'), '.3f')} s/GB, {fmt(c)}× one switch's |",
            f"| latency added by the link (idle ping, average round trip) | issue 6 | {fmt(added, '.3f')} ms ({fmt(mb.get('ping'), '.3f')} → {fmt(mo.get('ping'), '.3f')} ms) |",
            "",
        ])
    if a.ours == "ours_tap":
        # Issue 4: the switch's own tap ports against vde_switch + two vde_plug2tap.
        lines = [
            "### Targets\n",
            f"Ratios of `{a.ours}` to `{a.baseline}` (medians of this run):\n",
            "| target | source | this run |",
            "|---|---|---|",
            f"| with direct tap ports, throughput ≥ 2× vde_switch's (vde_plug2tap harness) | issue 4, DESIGN.md | {verdict(t, lambda x: x >= 2.0)} |",
            f"| switch CPU per GB no higher than vde_switch's (it now also does the taps' I/O) | issue 4 | {verdict(c, lambda x: x <= 1.0)} |",
            "",
        ]
        tap = ratios.get("vde_switch_tap")
        if tap and tap[0] and t:
            lines.append(
                f"vde_switch's own tap ports (`-t`, `vde_switch_tap`) reach {fmt(tap[0])}× its "
                f"vde_plug2tap throughput; ours with `--tap` is {fmt(ratio(t, tap[0]))}× that.\n"
            )
        return "\n".join(lines)
    lines = [
        "### Targets\n",
        f"Ratios of `{a.ours}` to `{a.baseline}` (medians of this run):\n",
        "| target | source | this run |",
        "|---|---|---|",
        f"| switch CPU per GB lower than vde_switch's (ratio < 1) | issue 3 | {verdict(c, lambda x: x < 1)} |",
        f"| throughput ≥ 0.9× vde_switch's | issue 3 | {verdict(t, lambda x: x >= 0.9)} |",
        f"| switch CPU per forwarded frame ≤ 1/3 of vde_switch's (frames from the switches' own counters) | DESIGN.md, issue 10 | {verdict(fr, lambda x: x <= 1 / 3)} |",
        f"| throughput ≥ vde_switch's on this harness | DESIGN.md, issue 10 | {verdict(t, lambda x: x >= 1.0)} |",
        "| with direct tap ports ≥ 2× vde_switch; UDP 64-byte frame rate ≥ 2×; within 2× of the Linux bridge | DESIGN.md, issue 10 | later benchmarks |",
        "",
    ]
    if "bridge" in ratios and t and ratios["bridge"][0]:
        lines.append(
            f"Linux bridge (reference): `{a.ours}` reaches "
            f"{fmt(ratio(t, ratios['bridge'][0]))}× the bridge's median throughput.\n"
        )
    return "\n".join(lines)


def report(a):
    with open(a.results) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    recs = [r for r in recs if r.get("measure") == a.measure]
    body, med, ratios = build_report(recs, a)
    a.medians = med
    found = anomalies(recs)
    print(body)
    print(targets_text(ratios, a))
    if found:
        print("Anomalies:\n  " + "\n  ".join(found))
    if not a.md:
        return
    section = section_head(a) + [body, targets_text(ratios, a)] + anomalies_text(found)
    write_section(a.md, a.title, "\n".join(s for s in section if s is not None))


def anomalies_text(found):
    """The section's closing list of anomalies (lines), empty when there were none."""
    if not found:
        return []
    return ["Anomalies seen in this run:\n"] + [f"- {x}" for x in found] + [""]


def anomalies(recs):
    """One line per failed run, dropped frames, switch log warning or stalled interval."""
    found = [summary_line(r) for r in recs if not r["ok"]]
    found += [
        f"round {r['round']} {r['system']}: switch took in {r['sw_lost_pkts']} more frames than it sent out"
        for r in recs
        if (r.get("sw_lost_pkts") or 0) > 0
    ]
    found += [
        f"round {r['round']} {r['system']}: endpoint interfaces dropped frames ({drops_txt(r)}, A rx/tx, B rx/tx)"
        for r in recs
        if r.get("link_drops") and any(v for v in r["link_drops"].values())
    ]
    found += [
        f"round {r['round']} {r['system']}: {r['switch_log_warnings']} warning/error line(s) in the switch log, e.g. {r['switch_log_sample']}"
        for r in recs
        if r.get("switch_log_warnings")
    ]
    found += [
        f"round {r['round']} {r['system']}: {r['stall_intervals']} stalled 1-s interval(s) "
        f"(<10 % of its mean); intervals {r.get('interval_gbps')}"
        for r in recs
        if r.get("stall_intervals")
    ]
    return found


def section_head(a):
    return [
        f"## {a.title}\n",
        f"Run {a.date} on {a.machine}. Commit `{a.commit}`. Raw results (iperf3 JSON, logs, "
        "strace/perf output) are kept in the run's output directory (not committed).\n",
        "```",
        a.command,
        "```\n",
        a.notes.strip() + "\n" if a.notes else "",
    ]


# ---------------------------------------------------------------------------
# profile: syscalls per frame, perf hot spots


def parse_strace_c(path):
    """{syscall: (calls, errors)} from an `strace -c` summary."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                t = line.split()
                if len(t) >= 5 and re.fullmatch(r"[\d.]+", t[0]) and t[-1] != "total":
                    calls = int(t[3])
                    errors = int(t[4]) if len(t) == 6 else 0
                    out[t[-1]] = (calls, errors)
    except OSError:
        pass
    return out


def parse_perf(path, n=12):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*\S)", line)
                if m:
                    sym = re.sub(r"(\s+-)+$", "", m.group(4))
                    rows.append((float(m.group(1)), m.group(2), sym))
    except OSError:
        pass
    return rows[:n]


def record_profile(a):
    rec = {"measure": "profile", "system": a.system, "round": a.round, "order": a.order,
           "error": a.error or None, "ok": False}
    sc = parse_strace_c(a.strace)
    rec["syscalls"] = {k: v[0] for k, v in sc.items()}
    rec["syscall_errors"] = {k: v[1] for k, v in sc.items() if v[1]}
    # hot spots per profiled process ("switch", or the names a system gave its processes)
    rec["perf_top"] = {name: parse_perf(path) for name, path in a.perf or []}
    b = json.loads(a.counters_before) if a.counters_before else None
    c = json.loads(a.counters_after) if a.counters_after else None
    if b and c:
        rec["frames_in"] = c["in_pkts"] - b["in_pkts"]
        rec["frames_out"] = c["out_pkts"] - b["out_pkts"]
    if rec.get("frames_in") and sc:
        rec["ok"] = rec["error"] is None
    elif rec["error"] is None:
        rec["error"] = "no strace summary or no switch counters"
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    total = sum(rec["syscalls"].values())
    print(f"round {a.round} {a.system}: {total} syscalls for {rec.get('frames_in')} frames in"
          + ("" if rec["error"] is None else f"  ERROR: {rec['error']}"))


RECV_CALLS = ("read", "recv", "recvfrom", "recvmsg", "recvmmsg", "readv")


def report_profile(a):
    with open(a.results) as f:
        recs = [json.loads(l) for l in f if l.strip()]
    recs = [r for r in recs if r.get("measure") == "profile"]
    out = [
        "Syscalls: every syscall of the switch process (all threads) counted by `strace -c -f` "
        "over the window, divided by its successful receive calls (read/recv*), i.e. per received "
        "frame while the switch receives one frame per call (with recvmmsg batching, divide by "
        "the frame counters instead). The switch's own `port/print` IN counter over roughly the "
        "same window is shown for reference only: the console round trips to a traced switch "
        "shift that window. strace slows the switch down, so rates are meaningless; read the "
        "mix. Hot spots: `perf record -e cpu-clock -g` of the switch process (or of each "
        "process the system names: both switches of a link, Prosody) over the next window, "
        "self time by symbol.\n",
        "| round | system | successful receive calls | frames in (counters, approx.) | syscalls per receive | by syscall, per receive (failed calls) |",
        "|---|---|---|---|---|---|",
    ]
    for r in recs:
        sc = r.get("syscalls", {})
        err = r.get("syscall_errors", {})
        rok = sum(sc.get(k, 0) - err.get(k, 0) for k in RECV_CALLS)
        if not rok:
            out.append(f"| {r['round']} | {r['system']} | - | - | - | {r.get('error') or 'no data'} |")
            continue
        per = sorted(sc.items(), key=lambda kv: -kv[1])
        mix = ", ".join(
            f"{k} {v / rok:.3f}" + (f" ({err[k] / rok:.3f} failed)" if err.get(k, 0) / rok >= 0.001 else "")
            for k, v in per if v / rok >= 0.001
        )
        out.append(f"| {r['round']} | {r['system']} | {rok} | {fmt(r.get('frames_in'), 'd')} "
                   f"| {sum(sc.values()) / rok:.3f} | {mix} |")
    out.append("")
    for r in recs:
        for proc, top in sorted((r.get("perf_top") or {}).items()):
            if not top:
                continue
            out.append(f"Hot spots of `{r['system']}`, process `{proc}` (round {r['round']}, self %):\n")
            out.append("```")
            out += [f"{pct:6.2f}%  {dso:<22} {sym}" for pct, dso, sym in top]
            out.append("```\n")
    body = "\n".join(out)
    print(body)
    if a.md:
        write_section(a.md, a.title, "\n".join(x for x in section_head(a) + [body] if x is not None))


INTRO = """# Benchmarks

Every figure here comes from a script under `tests/bench/` and is reproduced by the command shown
in its section (as root, on a machine with the tools the test suite installs: vde2, vdeplug,
iperf3, iproute2, python3; strace and perf for the profile), after
`cargo build --release -p f2f-overlay`. The scripts create their own network namespaces and
processes, remove them on exit, and only ever kill processes they started. Each section says
when, on which machine, at which commit and with which binary it was measured; a script rewrites
only its own section. Raw results (iperf3 JSON, switch logs, strace/perf output) stay in the
output directory a run prints (`OUT_DIR`).

| section | command |
|---|---|
| Switch throughput: vde_plug2tap harness (issue 3) | `ROUNDS=5 tests/bench/switch-iperf.sh` |
| Switch profile: syscalls per frame and CPU hot spots (vde_plug2tap harness) | `SYSTEMS="vde_switch ours" MEASURES=profile ROUNDS=1 tests/bench/switch-iperf.sh` |
| Harness check: vde_switch against itself (A/A) | `OURS_CMD=/usr/bin/vde_switch SECTION_TITLE="Harness check: vde_switch against itself (A/A)" tests/bench/switch-iperf.sh` |
| Direct tap ports: --tap vs vde_switch + vde_plug2tap (issue 4) | `SYSTEMS="vde_switch ours_tap vde_switch_tap" SECTION_TITLE="Direct tap ports: --tap vs vde_switch + vde_plug2tap (issue 4)" ROUNDS=3 tests/bench/switch-iperf.sh` |
| Links: tap → switch → link → switch → tap vs one switch (issue 6) | `tests/bench/link-iperf.sh` |

`tests/bench/switch-iperf.sh` documents its knobs in its header (`ROUNDS`, `SECONDS_PER_RUN`,
`SYSTEMS`, `MEASURES`, `F2F_BIN`, `OURS_CMD`, `BENCH_MD`, `WRITE_MD`, `OUT_DIR`) and the extra
systems it knows (`vde_switch_tap`, `ours_tap`: switch-owned tap ports; `ours_link`: two switches
joined by a link, which `tests/bench/link-iperf.sh` runs against `ours_tap`).

Noise: the reference machine has 2 cores shared with other work (builds, test suites; the load
average at the start of every run is in the tables), so run-to-run noise is about ±20 %; the A/A
section measures it. Runs of the systems alternate within each round (the order rotates), medians
of several rounds are reported with per-round paired ratios, and switch CPU per GB (utime+stime
of the switch process, all threads, from `/proc/PID/stat`) is the primary figure, throughput the
secondary one.

"""


def write_section(path, title, text):
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = INTRO
    head = f"## {title}"
    lines = old.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == head), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        new = "".join(lines[:start]) + text.rstrip("\n") + "\n" + (
            "\n" + "".join(lines[end:]) if end < len(lines) else ""
        )
    with open(path, "w") as f:
        f.write(new)


# ---------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("counters")
    c.add_argument("sock")
    c = sub.add_parser("console")
    c.add_argument("sock")
    c.add_argument("command")
    r = sub.add_parser("record-tcp")
    r.add_argument("out")
    r.add_argument("--system", required=True)
    r.add_argument("--round", type=int, required=True)
    r.add_argument("--order", type=int, required=True)
    r.add_argument("--seconds", type=int, required=True)
    r.add_argument("--client-json", required=True)
    r.add_argument("--clk-tck", type=int, required=True)
    r.add_argument("--sw-ticks", type=int)
    r.add_argument("--plug-ticks", type=int)
    r.add_argument("--proc-ticks", nargs=2, action="append", metavar=("NAME", "TICKS"),
                   help="CPU ticks of one named process (repeatable)")
    r.add_argument("--sw-user-ticks", type=int)
    r.add_argument("--links-before")
    r.add_argument("--links-after")
    r.add_argument("--sw-ctxsw", type=int, nargs=2, metavar=("VOLUNTARY", "INVOLUNTARY"))
    r.add_argument("--counters-before")
    r.add_argument("--counters-after")
    r.add_argument("--load1", type=float)
    r.add_argument("--first-ping-ms", type=int)
    r.add_argument("--ping-ms", default="")
    r.add_argument("--switch-alive", type=int, default=1)
    r.add_argument("--error", default="")
    r.add_argument("--switch-log")
    r.add_argument("--udp-len", type=int, help="UDP run: datagram payload bytes")
    q = sub.add_parser("record-profile")
    q.add_argument("out")
    q.add_argument("--system", required=True)
    q.add_argument("--round", type=int, required=True)
    q.add_argument("--order", type=int, required=True)
    q.add_argument("--strace", required=True)
    q.add_argument("--perf", nargs=2, action="append", metavar=("PROCESS", "PERF_TXT"),
                   help="perf report of one process (repeatable)")
    q.add_argument("--counters-before")
    q.add_argument("--counters-after")
    q.add_argument("--error", default="")
    for name in ("report-tcp", "report-profile"):
        g = sub.add_parser(name)
        add_report_args(g, name.split("-", 1)[1])
    a = p.parse_args()
    if a.cmd == "counters":
        print(json.dumps(counters(a.sock)))
    elif a.cmd == "console":
        print(console(a.sock, a.command), end="")
    elif a.cmd == "record-tcp":
        record_tcp(a)
    elif a.cmd == "record-profile":
        record_profile(a)
    elif a.cmd == "report-tcp":
        report(a)
    elif a.cmd == "report-profile":
        report_profile(a)


def add_report_args(g, measure):
    g.add_argument("results")
    g.add_argument("--measure", default=measure)
    g.add_argument("--baseline", default="vde_switch")
    g.add_argument("--ours", default="ours")
    g.add_argument("--reference", nargs="*", default=["bridge"])
    g.add_argument("--md")
    g.add_argument("--title", default="")
    g.add_argument("--date", default="")
    g.add_argument("--machine", default="")
    g.add_argument("--commit", default="")
    g.add_argument("--command", default="")
    g.add_argument("--notes", default="")
    g.add_argument("--aa", action="store_true", help="ours is the baseline program (A/A check)")


if __name__ == "__main__":
    sys.exit(main())
