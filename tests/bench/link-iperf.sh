#!/usr/bin/env bash
# link-iperf.sh: issue 6's benchmark. iperf3 TCP tap -> switch -> link -> switch -> tap
# (`ours_link`: two of our switches on loopback, joined by an encrypted link) against
# tap -> one switch -> tap (`ours_tap`), in the same run, rounds alternating; plus the link's
# CPU per GB (both switches) and the latency it adds (idle ping). The harness, its knobs and
# its report are switch-iperf.sh's; this only picks the systems and the section.
#
# usage (root): tests/bench/link-iperf.sh      (ROUNDS, SECONDS_PER_RUN, F2F_BIN... as there)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ROUNDS=${ROUNDS:-3}
export SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
export SYSTEMS="ours_tap ours_link" BASELINE=ours_tap OURS_SYSTEM=ours_link
export SECTION_TITLE="Links: tap → switch → link → switch → tap vs one switch (issue 6)"
export BENCH_CMD="ROUNDS=$ROUNDS SECONDS_PER_RUN=$SECONDS_PER_RUN tests/bench/link-iperf.sh"
exec "$HERE/switch-iperf.sh"
