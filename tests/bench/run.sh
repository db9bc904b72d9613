#!/usr/bin/env bash
# run.sh: the whole benchmark suite (issue 10) in one command, as root:
#
#   bash tests/bench/run.sh
#
# Installs what it needs (Debian packages: vde2, vdeplug, iperf3, iproute2, iputils-ping,
# valgrind, python3-matplotlib; pip's matplotlib if apt has none), builds the release binary,
# runs the criterion micro benchmarks of f2f-core (MAC table with 10^6 entries, forwarding with
# 64 ports, decoders) and then the system benchmarks of tests/bench/switch-iperf.sh with every
# measure (TCP throughput, UDP 64-byte frame rate, switch CPU per GB and per frame, ping latency,
# callgrind instructions per frame) over every system (vde_switch and ours with vde_plug2tap;
# ours with direct tap ports, with and without offloads; vde_switch with its own tap ports; the
# Linux bridge). Writes two sections of BENCHMARKS.md and their PNG plots under docs/bench/.
# Then tests/bench/link-vs-tcp.sh: the TCP and XMPP links against a bare TCP stream (two more
# sections).
#
# Environment (besides switch-iperf.sh's own knobs, e.g. ROUNDS, SECONDS_PER_RUN, SYSTEMS):
#   MICRO=1     0 skips the criterion benchmarks
#   SYSTEM=1    0 skips the system benchmarks
#   LINKS=1     0 skips the links against bare TCP (link-vs-tcp.sh; its PROFILE=0 skips its
#               profile)
#   CRITERION_ARGS="--warm-up-time 1 --measurement-time 3"   passed to the criterion binary
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (namespaces, taps, apt)" >&2; exit 1; }

PKGS=(vde2 vdeplug iperf3 iproute2 iputils-ping valgrind python3-matplotlib prosody)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # python3-matplotlib may be missing from the mirror: pip below covers it
    apt-get install -y --no-install-recommends "${missing[@]}" ||
        apt-get install -y --no-install-recommends "${missing[@]/python3-matplotlib/}"
fi
python3 -c 'import matplotlib' 2>/dev/null ||
    pip3 install --quiet --break-system-packages matplotlib ||
    echo "run.sh: no matplotlib: the tables are written, the plots are not" >&2

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
cargo build --release -p f2f-overlay
export F2F_BIN=${F2F_BIN:-$CARGO_TARGET_DIR/release/f2f-overlay}

if [ "${MICRO:-1}" = 1 ]; then
    # shellcheck disable=SC2086  # CRITERION_ARGS is a list of arguments
    cargo bench -p f2f-core --bench switching -- ${CRITERION_ARGS:---warm-up-time 1 --measurement-time 3}
    python3 "$HERE/micro.py" "$CARGO_TARGET_DIR/criterion" --md "$REPO/BENCHMARKS.md" \
        --command "bash tests/bench/run.sh (cargo bench -p f2f-core --bench switching)"
fi

if [ "${SYSTEM:-1}" = 1 ]; then
    SYSTEMS=${SYSTEMS:-"vde_switch ours ours_tap ours_tap_plain vde_switch_tap bridge"} \
        MEASURES=${MEASURES:-"tcp udp latency callgrind"} \
        ROUNDS=${ROUNDS:-3} REPORT=suite SUITE_COMMAND="bash tests/bench/run.sh" \
        bash "$HERE/switch-iperf.sh"
fi

if [ "${LINKS:-1}" = 1 ]; then
    # its own systems and section: not the suite's SYSTEMS, MEASURES or REPORT
    env -u SYSTEMS -u MEASURES -u REPORT -u SECTION_TITLE bash "$HERE/link-vs-tcp.sh"
fi
