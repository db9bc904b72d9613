#!/usr/bin/env bash
# switch-iperf.sh: iperf3 TCP between two network namespaces through a switch, per "system",
# alternating the order of the systems in every round; switch CPU seconds per GB forwarded from
# /proc/PID/stat. Writes its section of BENCHMARKS.md (issue 3's benchmark).
#
# usage (root): tests/bench/switch-iperf.sh
# env:
#   ROUNDS=3              rounds; every system runs once per round, the order rotates per round
#   SECONDS_PER_RUN=10    iperf3 -t
#   SYSTEMS="vde_switch ours bridge"   what to run (see the system_* functions below):
#       vde_switch      /usr/bin/vde_switch, two vde_plug2tap ports        (the baseline)
#       ours            $OURS_CMD -s DIR, two vde_plug2tap ports
#       bridge          Linux bridge in a namespace, two veth pairs        (reference)
#       vde_switch_tap  vde_switch -t TAP -t TAP, taps moved into the namespaces
#       ours_tap        $OURS_CMD --tap TAP --tap TAP, same (taps with offloads: TSO segments
#                       cross the switch whole)
#       ours_tap_plain  $OURS_CMD --no-tap-offloads --tap TAP --tap TAP (A/B of the offloads)
#       ours_base, ours_alt   $BASE_CMD, $ALT_CMD instead of $OURS_CMD (A/B of two builds)
#       ours_link       two of ours, one tap each, joined by a link on loopback (--listen /
#                       --connect, fresh key): tap -> switch -> link -> switch -> tap (issue 6;
#                       switch CPU is both switches' together)
#       bare_lo         no switch: iperf3 over the loopback of one namespace (the kernel's TCP
#                       alone, the path a link's own TCP stream takes; MTU 65536)
#       bare_veth       no switch: the two namespaces joined by one veth pair (MTU 1500)
#       room_xmpp       a Prosody of the run's own on loopback (tests/src/prosody.cfg.lua) and
#                       two `join` processes, master (tap A) and member (tap B), --transport
#                       xmpp: tap -> switch -> XMPP link via Prosody -> switch -> tap
#       room_tcp        the same room with --transport tcp (the member listens on loopback,
#                       the master dials it): a direct encrypted link set up by the room
#   (tests/bench/link-vs-tcp.sh runs the last five against each other)
#   MEASURES="tcp"        what to measure per run (see the measure_* functions):
#       tcp             throughput, switch CPU per GB (issue 3's figures)
#       udp             small-frame rate: iperf3 -u -l UDP_LEN(64) -b 0, frames per second
#                       received, switch CPU per frame
#       latency         ping -i 0.01 (PING_COUNT=500) at no other load: RTT p50/p99
#       callgrind       the switch under valgrind --tool=callgrind, UDP 64-byte frames at
#                       CALLGRIND_RATE (iperf3 -b, default 1M): user-space instructions per
#                       frame (load-independent); measured in round 1 only (ONCE_MEASURES)
#       profile         syscalls per forwarded frame (strace -c) and perf cpu-clock hot spots
#                       of the switch process under the same load (PROFILE_SECONDS=5 each)
#   F2F_BIN=target/release/f2f-overlay   our binary
#   OURS_CMD="$F2F_BIN switch"           how to start ours (-s DIR -M SOCK are appended);
#                                        OURS_CMD=/usr/bin/vde_switch validates the harness
#   BENCH_MD=BENCHMARKS.md  WRITE_MD=1   where to write the section (WRITE_MD=0: don't)
#   OURS_SYSTEM=ours      which system the report's targets are about: "ours", "ours_tap"
#                         (default when SYSTEMS has ours_tap and not ours: issue 4's tap ports),
#                         or "ours_link" (issue 6: tests/bench/link-iperf.sh)
#   BASELINE=vde_switch   the system the ratios are taken against
#   SECTION_TITLE=...     write under this heading instead of the measure's own (e.g. for an
#                         A/A check of the harness: OURS_CMD=/usr/bin/vde_switch)
#   OUT_DIR=mktemp        raw results (iperf3 JSON, logs, results.jsonl) are kept there
#   REPORT=per-measure    "per-measure": one section per measure (issues 3, 4); "suite": one
#                         section with every measure, ratios and PNG plots (issue 10, run.sh);
#                         "links": links against bare TCP (links.py, link-vs-tcp.sh)
#   PLOT_DIR=docs/bench   where the suite report writes its PNGs
#
# Adding a system: write system_NAME_start (it must set NS_A NS_B IF_A IF_B, SW_PID (or empty
# when the switch is in the kernel) and PLUG_PIDS, and register every PID with track_pid and
# every namespace with make_ns; cpu_proc names the processes whose CPU to record one by one);
# cleanup is generic. An optional system_NAME_after runs after each load (raw results). Adding a measure: write measure_NAME,
# which appends one JSON line per run to $RESULTS, and give it a section title in
# MEASURE_TITLE.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
SYSTEMS=${SYSTEMS:-"vde_switch ours bridge"}
MEASURES=${MEASURES:-tcp}
F2F_BIN=${F2F_BIN:-$REPO/target/release/f2f-overlay}
OURS_CMD=${OURS_CMD:-"$F2F_BIN switch"}
VDE_SWITCH=${VDE_SWITCH:-/usr/bin/vde_switch}
VDE_PLUG2TAP=/usr/bin/vde_plug2tap
BENCH_MD=${BENCH_MD:-$REPO/BENCHMARKS.md}
WRITE_MD=${WRITE_MD:-1}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/f2f-bench.XXXXXX)}
RESULTS=$OUT_DIR/results.jsonl
CLK_TCK=$(getconf CLK_TCK)
SUBNET=10.233.0            # inside the benchmark's own namespaces only
ADDR_A=$SUBNET.1 ADDR_B=$SUBNET.2
TAG=f2fb$$                 # unique prefix for namespaces and host-side interface names
declare -A MEASURE_TITLE=(
    [tcp]="Switch throughput: vde_plug2tap harness (issue 3)"
    [profile]="Switch profile: syscalls per frame and CPU hot spots (vde_plug2tap harness)"
)
ONCE_MEASURES=${ONCE_MEASURES:-callgrind}  # deterministic enough: round 1 only
REPORT=${REPORT:-per-measure}
PLOT_DIR=${PLOT_DIR:-$REPO/docs/bench}
UDP_LEN=${UDP_LEN:-64}
PING_COUNT=${PING_COUNT:-500}
CALLGRIND_RATE=${CALLGRIND_RATE:-1M}
SW_WRAP=()                 # prefix of the switch's command line (valgrind for callgrind)
PY=(python3 "$HERE/bench.py")
SUITE=(python3 "$HERE/suite.py")
LINKS=(python3 "$HERE/links.py")

log() { echo "[$(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes and namespaces
# Every PID this script starts goes through track_pid; every namespace through make_ns.
# Cleanup stops exactly those, newest first, on every exit path.
RUN_PIDS=()
RUN_NS=()

# Each run also lists its PIDs and namespaces in files in its RUN_DIR, so that the main shell
# can still clean up if the run's subshell had to be killed before its own trap ran.
track_pid() {
    RUN_PIDS+=("$1")
    echo "$1" >>"$RUN_DIR/.pids"
}

stop_pid() { # PID [GRACE_SECONDS=3]: TERM, wait, then KILL; reap if it is our child
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${2:-3} * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

make_ns() { # NAME: create a namespace with lo up, registered for deletion
    ip netns add "$1"
    RUN_NS+=("$1")
    echo "$1" >>"$RUN_DIR/.netns"
    ip -n "$1" link set lo up
}

cleanup_run() {
    local i
    for ((i = ${#RUN_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${RUN_PIDS[i]}"; done
    for ((i = ${#RUN_NS[@]} - 1; i >= 0; i--)); do ip netns del "${RUN_NS[i]}" 2>/dev/null || true; done
    # host-side taps of the *_tap systems, if one was left behind in this namespace
    for i in "${HOST_LINKS[@]}"; do ip link del "$i" 2>/dev/null || true; done
    RUN_PIDS=() RUN_NS=() HOST_LINKS=()
}
HOST_LINKS=()

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "${RUN_SHELL:-}" ]; then
        stop_pid "$RUN_SHELL" 15 # its own trap cleans up its run; if it could not, do it here
        mapfile -t RUN_PIDS < <(cat "$RUN_DIR/.pids" 2>/dev/null)
        mapfile -t RUN_NS < <(cat "$RUN_DIR/.netns" 2>/dev/null)
    fi
    cleanup_run
    [ "$rc" = 0 ] || log "exit status $rc; raw results in $OUT_DIR"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for() { # SECONDS DESCRIPTION CMD...: poll CMD every 50 ms until it succeeds
    local secs=$1 what=$2 t0=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - t0 < secs)) || { log "timeout after ${secs}s waiting for $what"; return 1; }
        sleep 0.05
    done
}

cpu_ticks() { # PID...: utime+stime summed, in clock ticks (fields 14, 15 of /proc/PID/stat)
    local pid sum=0 st f
    for pid in "$@"; do
        st=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        st=${st##*) }                       # the command name may hold spaces or ')'
        read -r -a f <<<"$st"
        sum=$((sum + f[11] + f[12]))        # state is f[0] (field 3): utime is f[11], stime f[12]
    done
    echo "$sum"
}

thread_ticks() { # PID: "TID COMM utime stime" per thread, cumulative (for the raw results)
    local t st f
    for t in /proc/"$1"/task/*; do
        st=$(cat "$t/stat" 2>/dev/null) || continue
        read -r -a f <<<"${st##*) }"
        echo "${t##*/} $(cat "$t/comm" 2>/dev/null) ${f[11]} ${f[12]}"
    done
}

ctx_switches() { # PID: "VOLUNTARY INVOLUNTARY" context switches summed over its threads
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v + 0, n + 0}'
}

user_ticks() { # PID: utime alone (field 14), clock ticks
    local st f
    st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return 0; }
    read -r -a f <<<"${st##*) }"
    echo "${f[11]}"
}

alive() { kill -0 "$1" 2>/dev/null; }

cpu_proc() { # NAME PID: record this process's CPU in every load run, apart (NAME: no spaces)
    NAMED_PROCS+=("$1=$2")
}

free_port() { # a TCP port that was free on 127.0.0.1 a moment ago
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- building blocks of systems
start_switch_proc() { # NAME CMD...: start a switch with stdin held open (vde_switch exits on
    # EOF on stdin); waits for ${SW_DIR:-$RUN_DIR/sw}/ctl; sets SW_PID
    local name=$1 dir=${SW_DIR:-$RUN_DIR/sw}
    shift
    mkfifo "$RUN_DIR/$name.stdin"
    sleep infinity >"$RUN_DIR/$name.stdin" &
    track_pid $!
    "${SW_WRAP[@]}" "$@" <"$RUN_DIR/$name.stdin" >"$RUN_DIR/$name.log" 2>&1 &
    SW_PID=$! SW_LOG=$RUN_DIR/$name.log
    track_pid "$SW_PID"
    local t0=$SECONDS
    until [ -S "$dir/ctl" ]; do
        if ! alive "$SW_PID" || ((SECONDS - t0 >= 30)); then
            log "$name did not create $dir/ctl; its output:"
            cat "$RUN_DIR/$name.log" >&2
            return 1
        fi
        sleep 0.05
    done
}

attach_plug2tap() { # NS: a vde_plug2tap port of the switch at $RUN_DIR/sw, tap0 inside NS
    local ns=$1
    ip netns exec "$ns" "$VDE_PLUG2TAP" -s "$RUN_DIR/sw" tap0 </dev/null >"$RUN_DIR/plug-$ns.log" 2>&1 &
    track_pid $!
    PLUG_PIDS+=($!)
    wait_for 10 "tap0 in $ns" ip -n "$ns" link show tap0
}

move_host_tap() { # HOSTNAME NS: move a tap the switch created here into NS, as tap0
    local ifn=$1 ns=$2
    wait_for 10 "$ifn" ip link show "$ifn"
    ip link set "$ifn" netns "$ns" name tap0
}

two_endpoint_namespaces() { # sets NS_A NS_B (created)
    NS_A=$TAG-$RUN_ID-a NS_B=$TAG-$RUN_ID-b
    make_ns "$NS_A"
    make_ns "$NS_B"
}

# ---------------------------------------------------------------- systems
system_vde_switch_start() {
    two_endpoint_namespaces
    start_switch_proc vde_switch "$VDE_SWITCH" -s "$RUN_DIR/sw" -M "$RUN_DIR/mgmt"
    attach_plug2tap "$NS_A"
    attach_plug2tap "$NS_B"
    IF_A=tap0 IF_B=tap0
}
system_vde_switch_describe() { echo "\`$VDE_SWITCH -s DIR -M SOCK\` ($("$VDE_SWITCH" -v | head -n1)), ports: two \`vde_plug2tap -s DIR tap0\`"; }

system_ours_start() {
    two_endpoint_namespaces
    # shellcheck disable=SC2086  # OURS_CMD is a command line
    start_switch_proc ours ${OURS_CMD_USED:-$OURS_CMD} -s "$RUN_DIR/sw" -M "$RUN_DIR/mgmt"
    attach_plug2tap "$NS_A"
    attach_plug2tap "$NS_B"
    IF_A=tap0 IF_B=tap0
}
# A/B of two builds: ours_base and ours_alt run $BASE_CMD and $ALT_CMD (e.g. an older
# binary's "PATH switch") on the same harness as ours.
system_ours_base_start() { OURS_CMD_USED=${BASE_CMD:?set BASE_CMD for ours_base} system_ours_start; }
system_ours_base_describe() { echo "\`$BASE_CMD -s DIR -M SOCK\`, ports: two \`vde_plug2tap -s DIR tap0\`"; }
system_ours_alt_start() { OURS_CMD_USED=${ALT_CMD:?set ALT_CMD for ours_alt} system_ours_start; }
system_ours_alt_describe() { echo "\`$ALT_CMD -s DIR -M SOCK\`, ports: two \`vde_plug2tap -s DIR tap0\`"; }

system_ours_describe() { echo "\`$OURS_SHOWN -s DIR -M SOCK\`${OURS_ID:+ ($OURS_ID)}, ports: two \`vde_plug2tap -s DIR tap0\`"; }

system_bridge_start() { # reference: the kernel's bridge, no process to charge CPU to
    two_endpoint_namespaces
    local br=$TAG-$RUN_ID-br
    make_ns "$br"
    ip -n "$br" link add br0 type bridge
    ip -n "$br" link set br0 up
    ip link add eth0 netns "$NS_A" type veth peer name pa netns "$br"
    ip link add eth0 netns "$NS_B" type veth peer name pb netns "$br"
    ip -n "$br" link set pa master br0 up
    ip -n "$br" link set pb master br0 up
    SW_PID='' IF_A=eth0 IF_B=eth0
}
system_bridge_describe() { echo "Linux bridge in its own namespace, two veth pairs (reference; switching runs in softirq, no process CPU to read)"; }

system_vde_switch_tap_start() {
    two_endpoint_namespaces
    HOST_LINKS+=("${TAG}a" "${TAG}b")
    start_switch_proc vde_switch "$VDE_SWITCH" -s "$RUN_DIR/sw" -M "$RUN_DIR/mgmt" -t "${TAG}a" -t "${TAG}b"
    move_host_tap "${TAG}a" "$NS_A"
    move_host_tap "${TAG}b" "$NS_B"
    IF_A=tap0 IF_B=tap0
}
system_vde_switch_tap_describe() { echo "\`$VDE_SWITCH -s DIR -M SOCK -t TAPA -t TAPB\`, taps moved into the namespaces"; }

system_ours_tap_start() {
    two_endpoint_namespaces
    HOST_LINKS+=("${TAG}a" "${TAG}b")
    # shellcheck disable=SC2086
    start_switch_proc ours $OURS_CMD -s "$RUN_DIR/sw" -M "$RUN_DIR/mgmt" ${OURS_TAP_EXTRA:-} --tap "${TAG}a" --tap "${TAG}b"
    move_host_tap "${TAG}a" "$NS_A"
    move_host_tap "${TAG}b" "$NS_B"
    IF_A=tap0 IF_B=tap0
    cpu_proc switch "$SW_PID"
}
system_ours_tap_plain_start() { # ours_tap without virtio-net headers and offloads (A/B)
    OURS_TAP_EXTRA=--no-tap-offloads system_ours_tap_start
}
system_ours_tap_plain_describe() { echo "\`$OURS_SHOWN -s DIR -M SOCK --no-tap-offloads --tap TAPA --tap TAPB\`, taps moved into the namespaces (every frame crosses as an ordinary one)"; }

system_ours_tap_describe() { echo "\`$OURS_SHOWN -s DIR -M SOCK --tap TAPA --tap TAPB\`, taps moved into the namespaces"; }

system_ours_link_start() {
    two_endpoint_namespaces
    HOST_LINKS+=("${TAG}a" "${TAG}b")
    local exe addr
    read -r exe _ <<<"$OURS_CMD"
    "$exe" keygen "$RUN_DIR/net.key"
    addr=127.0.0.1:$(free_port)
    # B dials A; SW_PID (counters, context switches) is A, the switch the iperf3 server sits on
    # shellcheck disable=SC2086
    SW_DIR=$RUN_DIR/sw2 start_switch_proc ours_b $OURS_CMD -s "$RUN_DIR/sw2" -M "$RUN_DIR/mgmt2" \
        --tap "${TAG}b" --key "$RUN_DIR/net.key" --state-dir "$RUN_DIR/state-b" --connect "$addr"
    EXTRA_SW_PIDS=("$SW_PID")
    cpu_proc switch_b "$SW_PID"
    # shellcheck disable=SC2086
    start_switch_proc ours $OURS_CMD -s "$RUN_DIR/sw" -M "$RUN_DIR/mgmt" \
        --tap "${TAG}a" --key "$RUN_DIR/net.key" --state-dir "$RUN_DIR/state-a" --listen "$addr"
    cpu_proc switch_a "$SW_PID"
    move_host_tap "${TAG}a" "$NS_A"
    move_host_tap "${TAG}b" "$NS_B"
    IF_A=tap0 IF_B=tap0
}
system_ours_link_describe() { echo "two \`$OURS_SHOWN --tap TAP --key K\`, A with \`--listen 127.0.0.1:PORT\`, B with \`--connect\` to it; A's tap in namespace A, B's in B; switch CPU = both switches"; }

system_bare_lo_start() { # iperf3 A and B in one namespace, over its loopback
    NS_A=$TAG-$RUN_ID-lo
    make_ns "$NS_A"
    NS_B=$NS_A IF_A=lo IF_B=lo SW_PID=''
}
system_bare_lo_describe() { echo "no switch: server and client in one namespace, both addresses on its \`lo\` (MTU 65536, loopback offloads): the kernel path a link's own TCP stream takes, with no link on it"; }

system_bare_veth_start() { # the two namespaces joined by one veth pair
    two_endpoint_namespaces
    ip link add eth0 netns "$NS_A" type veth peer name eth0 netns "$NS_B"
    SW_PID='' IF_A=eth0 IF_B=eth0
}
system_bare_veth_describe() { echo "no switch: namespaces A and B joined by one veth pair (MTU 1500, veth offloads): the same endpoints as the link paths without the switches and the link"; }

start_prosody() { # USER...: a Prosody of this run on a free loopback port, with the test
    # config (tests/src/prosody.cfg.lua: spec/xmpp-transport.md §1) and an account pw-USER for
    # each USER (password in RUN_DIR/USER.pw); sets XMPP_SERVER, PROSODY_PID
    local dir=$RUN_DIR/prosody port u
    mkdir -p "$dir/certs" "$dir/data/localhost/accounts"
    port=$(free_port)
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e 's|@TLS@|false|' -e 's|@TLS_MODULE@||' \
        -e 's|@TLS_SETTINGS@||' "$REPO/tests/src/prosody.cfg.lua" >"$dir/prosody.cfg.lua"
    for u in "$@"; do
        echo "return { [\"password\"] = \"pw-$u\"; };" >"$dir/data/localhost/accounts/$u.dat"
        (umask 077 && echo "pw-$u" >"$RUN_DIR/$u.pw")
    done
    prosody --config "$dir/prosody.cfg.lua" -F </dev/null >"$dir/stdout.log" 2>&1 &
    PROSODY_PID=$!
    track_pid "$PROSODY_PID"
    XMPP_SERVER=127.0.0.1:$port
    wait_for 10 "prosody on $XMPP_SERVER" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
}

start_join() { # NAME USER TAP N [FLAGS...]: `join` of the room (ROOM, XMPP_SERVER) as USER with
    # --tap TAP and sockets RUN_DIR/swN, RUN_DIR/mgmtN, up when its tap is attached (after the
    # master's grant); sets SW_PID, SW_LOG
    local name=$1 user=$2 tap=$3 n=$4 exe
    shift 4
    read -r exe _ <<<"$OURS_CMD"
    SW_DIR=$RUN_DIR/sw$n start_switch_proc "$name" "$exe" join "$ROOM" --jid "$user@localhost" \
        --password-file "$RUN_DIR/$user.pw" --server "$XMPP_SERVER" -s "$RUN_DIR/sw$n" -M "$RUN_DIR/mgmt$n" \
        --state-dir "$RUN_DIR/state-$user" --tap "$tap" --log-level info "$@"
    wait_for 20 "$name's tap $tap" bash -c "grep 'tap attached' '$SW_LOG' | grep -q '$tap'"
}

start_room() { # TRANSPORT [MEMBER FLAGS...]: master (tap A) and one member (tap B) of a room on
    # a fresh Prosody, every link with --transport TRANSPORT; SW_PID is the master (A's side)
    local transport=$1 a
    shift
    two_endpoint_namespaces
    HOST_LINKS+=("${TAG}a" "${TAG}b")
    ROOM=bench$$-$RUN_ID@conference.localhost
    start_prosody master member
    cpu_proc prosody "$PROSODY_PID"
    # the room's own subnet (the master's DHCP server and its address) stays clear of SUBNET
    start_join join_a master "${TAG}a" '' --master --subnet 10.234.0.0/24 --transport "$transport"
    a=$SW_PID
    cpu_proc join_a "$a"
    start_join join_b member "${TAG}b" 2 --transport "$transport" "$@"
    EXTRA_SW_PIDS=("$SW_PID")
    cpu_proc join_b "$SW_PID"
    SW_PID=$a SW_LOG=$RUN_DIR/join_a.log
    move_host_tap "${TAG}a" "$NS_A"
    move_host_tap "${TAG}b" "$NS_B"
    IF_A=tap0 IF_B=tap0
}

room_status() { # raw results: both joins' `status --json` (links: frames, stanzas, drops, queue)
    local exe n
    read -r exe _ <<<"$OURS_CMD"
    for n in "" 2; do "$exe" status -M "$RUN_DIR/mgmt$n" --json >"$RUN_DIR/status$n.json" 2>&1 || true; done
}

system_room_xmpp_start() { start_room xmpp; }
system_room_xmpp_after() { room_status; }
system_room_xmpp_describe() { echo "Prosody $(prosody_version) on 127.0.0.1 (tests/src/prosody.cfg.lua: no \`limits\`, no \`smacks\`, Nagle off, 256 KiB reads) and two \`${OURS_SHOWN% switch} join ROOM --transport xmpp --tap TAP\` (master with \`--master\`, tap A; member, tap B): frames as stanzas via Prosody; switch CPU = both joins (Prosody apart)"; }

system_room_tcp_start() { start_room tcp --listen "127.0.0.1:$(free_port)"; }
system_room_tcp_after() { room_status; }
system_room_tcp_describe() { echo "the same room with \`--transport tcp\`, the member with \`--listen 127.0.0.1:PORT\` (the master dials it): a direct encrypted link on loopback set up through the room; Prosody idles"; }

prosody_version() { dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo unknown; }

start_system() { # NAME: build the system and the two addressed endpoints; ping must pass
    SW_PID='' PLUG_PIDS=() EXTRA_SW_PIDS=() NAMED_PROCS=() NS_A='' NS_B=''
    declare -F "system_$1_start" >/dev/null || die "unknown system $1"
    "system_$1_start"
    ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A"
    ip -n "$NS_B" addr add "$ADDR_B/24" dev "$IF_B"
    ip -n "$NS_A" link set "$IF_A" up
    ip -n "$NS_B" link set "$IF_B" up
    local t0
    t0=$(date +%s%N)
    wait_for 15 "first ping $NS_B -> $ADDR_A" ip netns exec "$NS_B" ping -c 1 -W 1 -q "$ADDR_A" || return 1
    FIRST_PING_MS=$((($(date +%s%N) - t0) / 1000000))
}

link_drops() { # JSON {"a_rx":..,"a_tx":..,"b_rx":..,"b_tx":..}: dropped counters of the endpoint
    # interfaces (a tap's tx_dropped = frames the kernel queued for the plug/switch but dropped
    # because its reader did not keep up)
    local ja jb
    ja=$(ip -n "$NS_A" -s -j link show "$IF_A" 2>/dev/null || echo null)
    jb=$(ip -n "$NS_B" -s -j link show "$IF_B" 2>/dev/null || echo null)
    python3 -c 'import json, sys
def d(j, side):
    try:
        return json.loads(j)[0]["stats64"][side]["dropped"]
    except Exception:
        return None
a, b = sys.argv[1], sys.argv[2]
print(json.dumps({"a_rx": d(a, "rx"), "a_tx": d(a, "tx"), "b_rx": d(b, "rx"), "b_tx": d(b, "tx")}))' "$ja" "$jb"
}

switch_counters() { # JSON totals from the switch's console, or null
    if [ -n "$SW_PID" ] && [ -S "$RUN_DIR/mgmt" ]; then
        "${PY[@]}" counters "$RUN_DIR/mgmt" 2>/dev/null || echo null
    else
        echo null
    fi
}

# ---------------------------------------------------------------- measures
# iperf3 helpers shared by the measures: a one-off server in NS_A, a client in NS_B.
iperf_server_start() { # sets SRV_PID
    ip netns exec "$NS_A" iperf3 -s -1 -B "$ADDR_A" -p 5201 >"$RUN_DIR/iperf3-server.log" 2>&1 &
    SRV_PID=$!
    track_pid "$SRV_PID"
    wait_for 10 "iperf3 server" bash -c "ip netns exec '$NS_A' ss -Hltn 'sport = :5201' | grep -q LISTEN"
}

iperf_client_start() { # SECONDS [IPERF3 ARGS...]: TCP B -> A, JSON to iperf3-client.json; sets CLI_PID
    local secs=$1
    shift
    ip netns exec "$NS_B" iperf3 -c "$ADDR_A" -p 5201 -t "$secs" -J "$@" \
        >"$RUN_DIR/iperf3-client.json" 2>"$RUN_DIR/iperf3-client.err" &
    CLI_PID=$!
    track_pid "$CLI_PID"
}

iperf_client_wait() { # SECONDS: wait for the client (deadline SECONDS+30); sets CLI_ERR ('' if fine)
    local t0=$SECONDS rc=0
    CLI_ERR=''
    while alive "$CLI_PID" && ((SECONDS - t0 < $1 + 30)); do sleep 0.2; done
    if alive "$CLI_PID"; then
        CLI_ERR="iperf3 client did not finish within $(($1 + 30)) s"
        return 0
    fi
    wait "$CLI_PID" 2>/dev/null || rc=$?
    ((rc == 0)) || CLI_ERR="iperf3 client exit status $rc"
}

measure_load() { # KIND SYSTEM ROUND ORDER [IPERF3 ARGS...]: iperf3 NS_B -> NS_A for
    # SECONDS_PER_RUN with the switch's CPU and counters read around it; KIND is tcp or udp
    local kind=$1 sys=$2 round=$3 order=$4 err sw0 sw1 cs0 cs1 us0 us1 ld0 ld1 pl0 pl1 c0 c1 load1 alive_flag=1 ping_ms='' np
    local -a np0=() np1=()
    shift 4
    if [ "$kind" = tcp ]; then
        # latency first, on the idle path: 50 pings 20 ms apart, the average round trip
        ping_ms=$(ip netns exec "$NS_B" ping -n -q -c 50 -i 0.02 "$ADDR_A" | awk -F/ '/^rtt/ {print $5}')
    fi
    iperf_server_start
    load1=$(cut -d' ' -f1 /proc/loadavg)
    c0=$(switch_counters)
    ld0=$(link_drops)
    sw0=$([ -n "$SW_PID" ] && cpu_ticks "$SW_PID" "${EXTRA_SW_PIDS[@]}" || echo '')
    cs0=$([ -n "$SW_PID" ] && ctx_switches "$SW_PID" || echo '')
    us0=$([ -n "$SW_PID" ] && user_ticks "$SW_PID" || echo '')
    pl0=$(cpu_ticks "${PLUG_PIDS[@]}")  # 0 when there are none
    for np in "${NAMED_PROCS[@]}"; do np0+=("$(cpu_ticks "${np#*=}")"); done
    iperf_client_start "$SECONDS_PER_RUN" "$@"
    iperf_client_wait "$SECONDS_PER_RUN"
    err=$CLI_ERR
    sw1=$([ -n "$SW_PID" ] && cpu_ticks "$SW_PID" "${EXTRA_SW_PIDS[@]}" || echo '')
    cs1=$([ -n "$SW_PID" ] && ctx_switches "$SW_PID" || echo '')
    us1=$([ -n "$SW_PID" ] && user_ticks "$SW_PID" || echo '')
    pl1=$(cpu_ticks "${PLUG_PIDS[@]}")
    for np in "${NAMED_PROCS[@]}"; do np1+=("$(cpu_ticks "${np#*=}")"); done
    c1=$(switch_counters)
    ld1=$(link_drops)
    [ -z "$SW_PID" ] || thread_ticks "$SW_PID" >"$RUN_DIR/switch-threads.txt"
    ! declare -F "system_${sys}_after" >/dev/null || "system_${sys}_after"
    [ -z "$SW_PID" ] || alive "$SW_PID" || alive_flag=0
    stop_pid "$SRV_PID"
    local args=(--system "$sys" --round "$round" --order "$order" --seconds "$SECONDS_PER_RUN"
        --client-json "$RUN_DIR/iperf3-client.json" --clk-tck "$CLK_TCK"
        --counters-before "$c0" --counters-after "$c1" --links-before "$ld0" --links-after "$ld1"
        --load1 "$load1" --first-ping-ms "$FIRST_PING_MS" --switch-alive "$alive_flag" --error "$err"
        --ping-ms "${ping_ms:-}")
    [ "$kind" = tcp ] || args+=(--udp-len "$UDP_LEN")
    [ -z "$SW_PID" ] || args+=(--sw-ticks $((sw1 - sw0)) --sw-user-ticks $((us1 - us0)) --switch-log "$SW_LOG"
        --sw-ctxsw $((${cs1% *} - ${cs0% *})) $((${cs1#* } - ${cs0#* })))
    ((${#PLUG_PIDS[@]} == 0)) || args+=(--plug-ticks $((pl1 - pl0)))
    for np in "${!NAMED_PROCS[@]}"; do
        args+=(--proc-ticks "${NAMED_PROCS[np]%%=*}" $((np1[np] - np0[np])))
    done
    "${PY[@]}" record-tcp "$RESULTS" "${args[@]}" >&2
}

measure_tcp() { measure_load tcp "$@"; }

measure_udp() { # SYSTEM ROUND ORDER: as many UDP_LEN-byte datagrams as the sender can make
    measure_load udp "$@" -u -l "$UDP_LEN" -b 0
}

measure_latency() { # SYSTEM ROUND ORDER: PING_COUNT pings 10 ms apart, no other traffic
    local load1
    load1=$(cut -d' ' -f1 /proc/loadavg)
    ip netns exec "$NS_B" ping -n -i 0.01 -W 1 -c "$PING_COUNT" "$ADDR_A" >"$RUN_DIR/ping.txt" 2>&1 || true
    "${SUITE[@]}" record-latency "$RESULTS" --system "$1" --round "$2" --order "$3" \
        --ping "$RUN_DIR/ping.txt" --count "$PING_COUNT" --load1 "$load1" >&2
}

measure_callgrind() { # SYSTEM ROUND ORDER: user-space instructions per frame of the switch
    # (started under callgrind by run_one): counters zeroed, UDP_LEN-byte frames at
    # CALLGRIND_RATE for SECONDS_PER_RUN, counters dumped; frames from the switch's counters
    local sys=$1 c0 c1 err
    [ -n "$SW_PID" ] || { log "$sys: no switch process to count"; return 0; }
    iperf_server_start
    callgrind_control -z "$SW_PID" >/dev/null
    c0=$(switch_counters)
    iperf_client_start "$SECONDS_PER_RUN" -u -l "$UDP_LEN" -b "$CALLGRIND_RATE"
    iperf_client_wait "$SECONDS_PER_RUN"
    err=$CLI_ERR
    c1=$(switch_counters)
    callgrind_control -d "$SW_PID" >/dev/null
    stop_pid "$SRV_PID"
    "${SUITE[@]}" record-callgrind "$RESULTS" --system "$sys" --round "$2" --order "$3" \
        --dumps "$RUN_DIR"/callgrind.out.* --counters-before "$c0" --counters-after "$c1" \
        --rate "$CALLGRIND_RATE" --error "$err" >&2
}

measure_profile() { # SYSTEM ROUND ORDER: where the switch spends its CPU under iperf3 TCP load:
    # syscalls per forwarded frame (strace -c over PROFILE_SECONDS, frames from the switch's
    # own counters over the same window; strace slows the switch, so read the mix, not the
    # rate), then a cpu-clock profile (perf record -g) over another PROFILE_SECONDS, of the
    # switch or, when the system named its processes (cpu_proc), of each of them apart.
    local sys=$1 round=$2 order=$3 secs=${PROFILE_SECONDS:-5} c0 c1 st err np
    local -a procs=("switch=$SW_PID") perf_args=() recorders=()
    [ -n "$SW_PID" ] || { log "$sys: no switch process to profile"; return 0; }
    iperf_server_start
    iperf_client_start $((2 * secs + 3))
    sleep 1 # let TCP ramp up
    strace -c -f -p "$SW_PID" -o "$RUN_DIR/strace.txt" 2>"$RUN_DIR/strace.err" &
    st=$!
    track_pid "$st"
    # the counter window sits inside the strace window (the switch runs slower while traced,
    # so frames counted outside it would skew the ratio)
    wait_for 10 "strace to attach" grep -q attached "$RUN_DIR/strace.err"
    c0=$(switch_counters)
    sleep "$secs"
    c1=$(switch_counters)
    kill -INT "$st" 2>/dev/null || true
    wait "$st" 2>/dev/null || true
    ((${#NAMED_PROCS[@]} == 0)) || procs=("${NAMED_PROCS[@]}")
    if command -v perf >/dev/null; then
        for np in "${procs[@]}"; do # the same window for all of them
            perf record -q -e cpu-clock -F 999 -g -p "${np#*=}" -o "$RUN_DIR/perf-${np%%=*}.data" \
                -- sleep "$secs" >/dev/null 2>&1 &
            recorders+=($!)
        done
        wait "${recorders[@]}" || true
    fi
    iperf_client_wait $((2 * secs + 3))
    err=$CLI_ERR
    stop_pid "$SRV_PID"
    for np in "${procs[@]}"; do
        np=${np%%=*}
        [ -s "$RUN_DIR/perf-$np.data" ] || continue
        perf report -i "$RUN_DIR/perf-$np.data" --stdio --no-children --sort dso,symbol \
            --percent-limit 1 -g none 2>/dev/null | grep -v '^$' >"$RUN_DIR/perf-$np.txt" || true
        perf_args+=(--perf "$np" "$RUN_DIR/perf-$np.txt")
    done
    "${PY[@]}" record-profile "$RESULTS" --system "$sys" --round "$round" --order "$order" \
        --strace "$RUN_DIR/strace.txt" "${perf_args[@]}" \
        --counters-before "$c0" --counters-after "$c1" --error "$err" >&2
}

failed_run() { # SYSTEM ROUND ORDER MEASURE REASON: record a run that could not be measured
    python3 -c 'import json, sys; print(json.dumps({"measure": sys.argv[4], "system": sys.argv[1],
        "round": int(sys.argv[2]), "order": int(sys.argv[3]), "ok": False, "error": sys.argv[5]}))' \
        "$@" >>"$RESULTS"
    log "round $2 $1 $4: FAILED: $5"
}

# ---------------------------------------------------------------- main
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, taps)"
for t in "$VDE_PLUG2TAP" iperf3 ip python3 ss; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done
case " $SYSTEMS " in *" room_"*) command -v prosody >/dev/null || die "missing tool: prosody" ;; esac
case " $MEASURES " in *" callgrind "*) command -v callgrind_control >/dev/null || die "missing tool: valgrind" ;; esac
read -r -a SYS <<<"$SYSTEMS"
read -r -a MEAS <<<"$MEASURES"
for s in "${SYS[@]}"; do declare -F "system_${s}_start" >/dev/null || die "unknown system: $s"; done
for m in "${MEAS[@]}"; do declare -F "measure_$m" >/dev/null || die "unknown measure: $m"; done
case " ${SYS[*]} " in
*" ours "* | *" ours_tap "* | *" ours_tap_plain "* | *" ours_link "* | *" room_"*)
    read -r ours_exe _ <<<"$OURS_CMD"
    [ -x "$ours_exe" ] ||
        die "$ours_exe not found: cargo build --release -p f2f-overlay (or set F2F_BIN / OURS_CMD)"
    ;;
esac
mkdir -p "$OUT_DIR"
: >"$RESULTS"
# Run a private copy of our binary: others may rebuild target/release while the rounds run.
OURS_SHOWN=${OURS_CMD#"$REPO"/}
OURS_ID=''
if [ "$OURS_CMD" = "$F2F_BIN switch" ] && [ -x "$F2F_BIN" ]; then
    cp "$F2F_BIN" "$OUT_DIR/f2f-overlay"
    OURS_CMD="$OUT_DIR/f2f-overlay switch"
    OURS_ID="binary sha256 $(sha256sum "$OUT_DIR/f2f-overlay" | cut -c1-12), built $(date -u -r "$F2F_BIN" '+%Y-%m-%d %H:%M UTC')"
fi
log "systems: ${SYS[*]}; measures: ${MEAS[*]}; $ROUNDS rounds of ${SECONDS_PER_RUN}s; raw results in $OUT_DIR"

n=${#SYS[@]}
for ((round = 1; round <= ROUNDS; round++)); do
    for ((k = 0; k < n; k++)); do
        sys=${SYS[$(((k + round - 1) % n))]}   # rotate: every system leads one round in turn
        for m in "${MEAS[@]}"; do
            case " $ONCE_MEASURES " in *" $m "*) ((round == 1)) || continue ;; esac
            SW_WRAP=()
            [ "$m" != callgrind ] ||
                SW_WRAP=(valgrind --tool=callgrind -q "--callgrind-out-file=$OUT_DIR/r$round-$sys-$m/callgrind.out")
            RUN_ID=r$round-$sys-$m
            RUN_DIR=$OUT_DIR/$RUN_ID
            mkdir -p "$RUN_DIR"
            log "round $round/$ROUNDS, #$((k + 1)): $sys, $m"
            # one subshell per run: set -e holds inside it, and its EXIT trap cleans up the
            # run's processes and namespaces however it ends (on INT/TERM the main shell's
            # trap sends it TERM); in the background so that `wait` lets the traps run at once
            (
                set -e
                trap cleanup_run EXIT
                trap 'exit 143' TERM
                start_system "$sys"
                "measure_$m" "$sys" "$round" "$((k + 1))"
            ) &
            RUN_SHELL=$!
            set +e
            wait "$RUN_SHELL"
            rc=$?
            set -e
            RUN_SHELL=''
            ((rc < 128)) || exit "$rc"
            ((rc == 0)) || failed_run "$sys" "$round" "$((k + 1))" "$m" \
                "setup or measurement failed, exit status $rc (logs in $RUN_DIR)"
        done
    done
done

# ---------------------------------------------------------------- report
machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, kernel $(uname -r)"
commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- crates 2>/dev/null || echo '+uncommitted changes in crates/')"
cmd="ROUNDS=$ROUNDS SECONDS_PER_RUN=$SECONDS_PER_RUN SYSTEMS=\"$SYSTEMS\""
[ "$OURS_SHOWN" = "${F2F_BIN#"$REPO"/} switch" ] || cmd+=" OURS_CMD=\"$OURS_SHOWN\""
cmd+=" tests/bench/switch-iperf.sh"
cmd=${BENCH_CMD:-$cmd} # a wrapper script names itself
notes="Systems:"$'\n'
for s in "${SYS[@]}"; do notes+="- \`$s\`: $("system_${s}_describe")"$'\n'; done
notes+=$'\n'"Each run: a fresh switch and two fresh namespaces ($ADDR_A/24, $ADDR_B/24), one ping, then \`iperf3 -c $ADDR_A -t $SECONDS_PER_RUN -J\` from B to the one-off server in A. GB = 10^9 bytes received by the iperf3 server. CPU = utime+stime of the process (all threads) from \`/proc/PID/stat\`, read just before the client starts and just after it ends. \"switch in/out pkts\" are the switch's own \`port/print\` counters over the same window (in−out ≈ frames the switch dropped). \"stalls\" counts 1-s intervals under 10 % of the run's mean. The order of the systems rotates every round. The machine is shared (2 cores, other builds and tests running): load1 is the 1-min load average at the start of each run."
aa=()  # A/A check: "ours" is vde_switch itself
read -r ours_exe _ <<<"$OURS_CMD"
[ "$(readlink -f "$ours_exe")" != "$(readlink -f "$VDE_SWITCH")" ] || aa=(--aa)
case " ${SYS[*]} " in
*" ours_link "*) default_ours=ours_link ;;
*" ours "*) default_ours=ours ;;
*" ours_tap "*) default_ours=ours_tap ;;
*) default_ours=ours ;;
esac
OURS_SYSTEM=${OURS_SYSTEM:-$default_ours}
if [ "$REPORT" = suite ]; then
    md=()
    [ "$WRITE_MD" = 1 ] && md=(--md "$BENCH_MD" --plot-dir "$PLOT_DIR")
    "${SUITE[@]}" report "$RESULTS" --title "${SECTION_TITLE:-Benchmark suite (issue 10)}" \
        --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --machine "$machine" --commit "$commit" \
        --command "${SUITE_COMMAND:-$cmd}" --notes "$notes" --ours "$OURS_SYSTEM" "${md[@]}"
else
    for m in "${MEAS[@]}"; do
        [ -n "${MEASURE_TITLE[$m]:-}" ] ||
            { log "$m: results in $RESULTS; only REPORT=suite writes a section for it"; continue; }
        md=()
        [ "$WRITE_MD" = 1 ] && md=(--md "$BENCH_MD")
        reporter=("${PY[@]}" "report-$m")
        [ "$REPORT" != links ] || reporter=("${LINKS[@]}" report)
        "${reporter[@]}" "$RESULTS" --title "${SECTION_TITLE:-${MEASURE_TITLE[$m]}}" \
            --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --machine "$machine" --commit "$commit" \
            --command "$cmd" --notes "$notes" --ours "$OURS_SYSTEM" --baseline "${BASELINE:-vde_switch}" \
            "${aa[@]}" "${md[@]}"
    done
fi
[ "$WRITE_MD" = 1 ] && log "wrote the section(s) in $BENCH_MD"
log "raw results in $OUT_DIR"
