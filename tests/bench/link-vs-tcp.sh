#!/usr/bin/env bash
# link-vs-tcp.sh: issue 10's "TCP and XMPP link throughput versus a bare TCP stream on
# loopback". In one run, rounds alternating, iperf3 TCP from namespace B to namespace A over:
#   bare_lo     one namespace's loopback, no switch (the kernel's TCP alone: the path the
#               links' own streams take)
#   bare_veth   the two namespaces joined by a veth pair, no switch (same endpoints as below)
#   ours_tap    tap -> one switch -> tap, no link (reference: what the switches cost alone;
#               TCP super-segments cross it whole thanks to the taps' offloads)
#   ours_tap_plain  the same with --no-tap-offloads: 1514-byte frames, as on a link
#   ours_link   tap -> switch -> encrypted TCP link on loopback -> switch -> tap (switch
#               --listen / --connect)
#   room_tcp    the same through two `join` processes of a room, --transport tcp
#   room_xmpp   the same through two `join` processes, --transport xmpp: frames as stanzas
#               via a Prosody the run starts on loopback (tests/src/prosody.cfg.lua)
# Reports the medians, the ratios link / bare (medians and paired per round) and the CPU
# seconds per GB of every process on the path (switches, joins, Prosody) from /proc. The
# harness, its knobs and its cleanup are switch-iperf.sh's; this picks the systems and the
# section.
# Then (PROFILE=1) one more round of the paths with processes, measure "profile": syscalls of
# the switch on A's side, and a perf cpu-clock profile of every process on the path, in a
# section of its own.
#
# usage (root): tests/bench/link-vs-tcp.sh   (ROUNDS, SECONDS_PER_RUN, SYSTEMS, F2F_BIN... as
#               there; SYSTEMS may drop paths, e.g. SYSTEMS="bare_lo ours_link"; PROFILE=0
#               skips the profile; PROFILE_SYSTEMS="ours_tap ours_link room_xmpp")
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ROUNDS=${ROUNDS:-3}
export SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
SYSTEMS=${SYSTEMS:-"bare_lo bare_veth ours_tap ours_tap_plain ours_link room_tcp room_xmpp"}
PROFILE=${PROFILE:-1}
cmd="ROUNDS=$ROUNDS SECONDS_PER_RUN=$SECONDS_PER_RUN tests/bench/link-vs-tcp.sh"
SYSTEMS=$SYSTEMS MEASURES=tcp REPORT=links BENCH_CMD=$cmd \
    SECTION_TITLE="Links vs bare TCP on loopback (issue 10)" "$HERE/switch-iperf.sh"
[ "$PROFILE" = 1 ] || exit 0
# (an OUT_DIR given for the run gets the profile's raw results in a subdirectory)
OUT_DIR=${OUT_DIR:+$OUT_DIR/profile} \
    SYSTEMS=${PROFILE_SYSTEMS:-"ours_tap ours_link room_xmpp"} MEASURES=profile ROUNDS=1 BENCH_CMD=$cmd \
    SECTION_TITLE="Links vs bare TCP: where the link paths spend CPU (issue 10)" "$HERE/switch-iperf.sh"
