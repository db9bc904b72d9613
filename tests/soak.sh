#!/usr/bin/env bash
# Soak run of the switch: MINUTES (default 10) of iperf3 between two tap hosts through the switch
# while DHCP clients and vde_plugs come and go, with the switch's memory and open files sampled.
# Fails if a client ever gets another address than its first (a lease lost), if a lease is
# missing from the lease file at the end, if memory grows (the last quarter's peak VmRSS more than
# 4 MiB over the first quarter's) or if file descriptors leak. Prints one summary line. Then the
# same MINUTES for a room over XMPP (Prosody started by the test): iperf3 between two members
# while two others leave and rejoin over and over; fails if a rejoin gets another MAC or address
# or if the master's or a member's memory grows.
#
#   bash tests/soak.sh [MINUTES]
#
# Needs root (network namespaces, taps), iperf3, vde2, vdeplug, prosody and busybox-static
# (tests/run-all.sh installs them). CI runs the same tests for 40 s each with the end-to-end
# tests.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
case "$MINUTES" in
    '' | *[!0-9]*) echo "usage: $0 [MINUTES]" >&2; exit 2 ;;
esac
export F2F_SOAK_SECONDS=$((MINUTES * 60))
cargo build --release -p f2f-overlay
exec cargo test --release -p f2f-e2e --test soak -- --nocapture --test-threads=1
