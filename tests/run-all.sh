#!/usr/bin/env bash
# The whole test suite of f2f-overlay: the one command README and CI (.ci/run) run.
#
#   bash tests/run-all.sh
#
# Runs as root on a fresh Debian 12 machine with only the Rust toolchain, gcc and python3:
# installs the peers the end-to-end tests drive (no sudo), checks formatting and lints, builds
# the release binary once, runs the unit tests, the end-to-end tests (one at a time, against
# that binary) and a short fuzz smoke of every cargo-fuzz target.
#
# Environment:
#   CI=true          a missing tool or missing root fails a test instead of skipping it
#   FUZZ_SECONDS=N   seconds per fuzz target (default 30); 0 skips the fuzz smoke
#   E2E_FILTER=STR   only run end-to-end tests whose name contains STR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

T0=$(date +%s)
STEP=""
DONE=()
step() {
    STEP=$1
    echo
    echo "=== run-all [$(($(date +%s) - T0))s] $STEP"
}
ok() { DONE+=("$STEP"); }
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo >&2
        echo "run-all: FAILED at step \"$STEP\" (exit $rc) after $(($(date +%s) - T0))s" >&2
    fi
}
trap on_exit EXIT
die() { echo "run-all: $*" >&2; exit 1; }

# --- 1. packages ---------------------------------------------------------------------------
# Order matters (spec/test-vm.md): qemu-system-x86 first, then qemu-utils, so that a newer
# qemu-utils from backports cannot make apt remove one of them.
PKGS_QEMU=(vde2 vdeplug qemu-system-x86)
PKGS_REST=(qemu-utils iperf3 iproute2 iputils-ping busybox-static tcpdump socat isc-dhcp-client nmap e2fsprogs prosody openssl)
step "packages"
missing=()
for p in "${PKGS_QEMU[@]}" "${PKGS_REST[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "missing: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root (no sudo is used): run as root"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${PKGS_QEMU[@]}"
    apt-get install -y --no-install-recommends "${PKGS_REST[@]}"
else
    echo "all installed: ${PKGS_QEMU[*]} ${PKGS_REST[*]}"
fi
command -v qemu-img >/dev/null \
    || die "qemu-img is missing after the install (qemu-utils vs qemu-system-x86: see spec/test-vm.md)"
for t in /usr/bin/vde_switch /usr/bin/vde_plug /usr/bin/vde_plug2tap /usr/bin/dpipe \
    /usr/bin/unixterm /usr/bin/qemu-system-x86_64 /usr/sbin/dhclient /usr/bin/nmap /usr/sbin/mkfs.ext4 \
    /usr/bin/prosody; do
    [ -x "$t" ] || die "$t is missing after the install"
done
# The DHCP tests' VM image (images/build-test-vm.sh, cached under /var/tmp/f2f-e2e-cache) is
# built from .debs fetched with apt-get download, which needs the package lists.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "apt-get update needs root (no package lists for the test VM image)"
    apt-get update
fi
ok

# --- 2. static checks ----------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
ok

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# the core's feature-gated parts: fuzz entry points and the simulator
cargo clippy -p f2f-core --all-targets --features fuzzing,sim -- -D warnings
ok

# --- 3. build once -------------------------------------------------------------------------
step "cargo build --release -p f2f-overlay"
cargo build --release -p f2f-overlay
export F2F_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/f2f-overlay"
"$F2F_BIN" switch --help >/dev/null || die "$F2F_BIN switch --help failed"
ok

# --- 4. unit tests and simulations ---------------------------------------------------------
step "unit tests (cargo test --workspace --exclude f2f-e2e)"
cargo test --workspace --exclude f2f-e2e --no-fail-fast
cargo test -p f2f-core --features fuzzing,sim --no-fail-fast
ok

# --- 5. end-to-end -------------------------------------------------------------------------
step "end-to-end tests (cargo test --release -p f2f-e2e, one at a time)"
# One at a time: they share 2 cores and start real switches, taps and qemu. The timeout only
# catches a hang; the suite takes a few minutes. --no-fail-fast: report every failing file.
timeout --kill-after=30 1800 \
    cargo test --release -p f2f-e2e --no-fail-fast -- --test-threads=1 ${E2E_FILTER:+"$E2E_FILTER"}
ok

# --- 6. fuzz smoke -------------------------------------------------------------------------
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
if [ -f fuzz/Cargo.toml ] && [ "$FUZZ_SECONDS" != 0 ]; then
    step "fuzz smoke (${FUZZ_SECONDS}s per target)"
    if ! cargo fuzz --version >/dev/null 2>&1; then
        cargo install cargo-fuzz --locked
    fi
    targets=$(cd fuzz && cargo fuzz list)
    [ -n "$targets" ] || die "fuzz/ exists but cargo fuzz list shows no target"
    for t in $targets; do
        echo "--- fuzz $t"
        # Each target starts from its seeds in fuzz/corpus/<target>/ (what it finds is added
        # there, git-ignored); a target without seeds is a mistake.
        [ -n "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ] || die "fuzz/corpus/$t/ has no seed inputs"
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$FUZZ_SECONDS") \
            || die "fuzz target $t failed: the crashing input is under fuzz/artifacts/$t/"
    done
    ok
fi

STEP="summary"
echo
echo "run-all: all ${#DONE[@]} steps passed in $(($(date +%s) - T0))s: $(IFS=,; echo "${DONE[*]}" | sed 's/,/; /g')"
