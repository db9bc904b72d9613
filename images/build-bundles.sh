#!/usr/bin/env bash
# Build the master and slave image bundles for `f2f-overlay vm` (and later `join --vm`): each a
# directory with image.toml, the test VM's Debian kernel + busybox initramfs (build-test-vm.sh,
# reused, not repeated here) and a small ext4 base disk as qcow2. There is no DHCP server in
# either image: the switch serves (f2f-overlay switch --dhcp CIDR).
#
#   images/build-bundles.sh OUTDIR
#
# Writes OUTDIR/master/ and OUTDIR/slave/ (image.toml, vmlinuz, initramfs.gz, base.qcow2) and
# OUTDIR/stamp. Needs mkfs.ext4 (e2fsprogs) and qemu-img (qemu-utils) besides what
# build-test-vm.sh needs. Installs nothing system-wide.
#
# The base disk is really used: the initramfs mounts it as /dev/vda, prints
# `VM-DISK boots=N id=master|slave` (it reads the id and writes a boot counter; the write lands
# in the per-VM overlay, never in the base) and runs the disk's `rc` after the lease.
# The master's rc is the Figure 3.1 check, asked for on the kernel command line:
#   tvm_sweep=N         sweep the lease's /24 (busybox ping sweep, the image's nmap -sn stand-in)
#                       until N hosts answer, at most tvm_sweep_rounds rounds (default 10), then
#                       print the `SWEEP up ADDR` lines and `F2F-SWEEP up=N hosts=A,B,...`
#
# Environment:
#   TVM_DIR    an existing build-test-vm.sh output to take vmlinuz + initramfs.gz from
#              (default: build one into OUTDIR/test-vm)
#   TVM_CACHE  passed on to build-test-vm.sh (where the .debs are kept)
set -euo pipefail

here=$(dirname "$(realpath "$0")")
out=$(realpath -m "${1:?usage: $0 OUTDIR}")
mkdir -p "$out"
tvm=${TVM_DIR:-$out/test-vm}
if [ -z "${TVM_DIR:-}" ]; then
    bash "$here/build-test-vm.sh" "$tvm" >&2
fi
for f in vmlinuz initramfs.gz; do
    [ -f "$tvm/$f" ] || { echo "$0: $tvm/$f is missing (run build-test-vm.sh $tvm)" >&2; exit 1; }
done
for t in mkfs.ext4 qemu-img; do
    command -v "$t" >/dev/null || { echo "$0: $t not found (apt-get install e2fsprogs qemu-utils)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

master_rc='# Figure 3.1 check on request (tvm_sweep=N on the kernel command line).
[ -n "$tvm_sweep" ] || exit 0
prefix=$(cut -d. -f1-3 /run/lease-ip)
round=1
while :; do
    sweep "$prefix" > /run/sweep.out
    up=$(grep -c "^SWEEP up " /run/sweep.out)
    [ "$up" -ge "$tvm_sweep" ] || [ "$round" -ge "${tvm_sweep_rounds:-10}" ] && break
    round=$((round + 1))
done
grep "^SWEEP up " /run/sweep.out
echo "F2F-SWEEP up=$up hosts=$(grep "^SWEEP up " /run/sweep.out | cut -d" " -f3 | tr "\n" "," | sed "s/,\$//") rounds=$round"
'

# bundle NAME MEMORY: OUTDIR/NAME with its own base disk.
bundle() {
    local name=$1 dir=$out/$1.new
    rm -rf "$dir" && mkdir -p "$dir" "$work/$name"
    echo "$name" > "$work/$name/id"
    if [ "$name" = master ]; then printf '%s' "$master_rc" > "$work/$name/rc"; fi
    mkfs.ext4 -q -F -d "$work/$name" -L "f2f-$name" "$work/$name.raw" 16M >/dev/null
    qemu-img convert -f raw -O qcow2 "$work/$name.raw" "$dir/base.qcow2"
    ln "$tvm/vmlinuz" "$dir/vmlinuz" 2>/dev/null || cp "$tvm/vmlinuz" "$dir/vmlinuz"
    ln "$tvm/initramfs.gz" "$dir/initramfs.gz" 2>/dev/null || cp "$tvm/initramfs.gz" "$dir/initramfs.gz"
    cat > "$dir/image.toml" <<TOML
# f2f-overlay vm image bundle ($name), built by images/build-bundles.sh
disk = "base.qcow2"
kernel = "vmlinuz"
initrd = "initramfs.gz"
append = "console=ttyS0 quiet panic=-1 no_timer_check tvm_name=$name"
memory = $2
TOML
    rm -rf "${out:?}/$name"
    mv "$dir" "$out/$name"
    echo "$name: $out/$name (base.qcow2 $(stat -c %s "$out/$name/base.qcow2") bytes)"
}
bundle master 128
bundle slave 96
{
    cat "$tvm/stamp" 2>/dev/null || true
    echo "bundles $(sha256sum "$0" | cut -d' ' -f1)"
} > "$out/stamp"
