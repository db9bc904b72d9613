#!/usr/bin/env bash
# Build the tiny acceptance-test VM: the stock Debian kernel plus a busybox initramfs whose /init
# gets an address by DHCP (busybox udhcpc) and prints a marker line on the serial console. There is
# no DHCP server in the image: the switch serves (f2f-overlay switch --dhcp CIDR).
# The guest contract (kernel command-line knobs, marker lines) is ../../shared/spec/test-vm.md's.
#
#   images/build-test-vm.sh OUTDIR
#
# Writes OUTDIR/vmlinuz, OUTDIR/initramfs.gz and OUTDIR/stamp (what they were built from). Needs
# apt-get download (any user; run apt-get update first on a fresh machine), dpkg-deb, cpio-capable
# busybox from the downloaded package itself, gzip. Installs nothing system-wide.
#
# Environment:
#   TVM_CACHE       where downloaded .debs are kept between builds (default OUTDIR/debs)
#   TVM_KERNEL_PKG  kernel package (default: the one linux-image-amd64 depends on)
set -euo pipefail

out=$(realpath -m "${1:?usage: $0 OUTDIR}")
cache=$(realpath -m "${TVM_CACHE:-$out/debs}")
mkdir -p "$out" "$cache"

kpkg=${TVM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null \
    | awk '/Depends: linux-image-/ { print $2; exit }')}
[ -n "$kpkg" ] || { echo "$0: cannot tell which kernel package to use (run apt-get update, or set TVM_KERNEL_PKG)" >&2; exit 1; }

# deb PKG: path of PKG's .deb in the cache, downloading it once.
deb() {
    local f
    f=$(find "$cache" -maxdepth 1 -name "$1_*.deb" | sort | tail -n1)
    if [ -z "$f" ]; then
        echo "downloading $1 into $cache" >&2
        (cd "$cache" && apt-get download "$1" >&2) || { echo "$0: apt-get download $1 failed" >&2; exit 1; }
        f=$(find "$cache" -maxdepth 1 -name "$1_*.deb" | sort | tail -n1)
    fi
    [ -n "$f" ] || { echo "$0: no .deb for $1 in $cache" >&2; exit 1; }
    echo "$f"
}
kdeb=$(deb "$kpkg")
bdeb=$(deb busybox-static)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Modules in load order: the .deb carries no modules.dep (depmod runs at install time).
# virtio-net chain, e1000, virtio disk + ext4 (for per-VM overlays), fw_cfg (host -> guest files).
mods=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
      failover net_failover virtio_net e1000 virtio_blk qemu_fw_cfg
      crc16 mbcache crc32c_generic jbd2 ext4)
globs=('./boot/vmlinuz-*')
for m in "${mods[@]}"; do globs+=("*/$m.ko"); done
dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work" --wildcards "${globs[@]}"
cp "$work"/boot/vmlinuz-* "$out/vmlinuz.new"

root=$work/root
mkdir -p "$root"/{bin,dev,etc,lib/modules,mnt,proc,run,sys,tmp,usr/share/udhcpc}
dpkg-deb --fsys-tarfile "$bdeb" | tar -x -O ./bin/busybox > "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
for m in "${mods[@]}"; do
    ko=$(find "$work/lib/modules" -name "$m.ko" | head -n1)
    [ -n "$ko" ] || { echo "$0: module $m.ko is not in $(basename "$kdeb")" >&2; exit 1; }
    cp "$ko" "$root/lib/modules/"
done
printf '%s\n' "${mods[@]}" > "$root/lib/modules/order"

# Applet links (busybox --install wants a running system).
for a in sh mount umount ip ifconfig route udhcpc ping arping insmod poweroff reboot cat echo \
         sleep seq grep sed awk mkdir cttyhack setsid hostname nc ls wc tr cut head tail date \
         dmesg sync kill ps timeout uname sort md5sum sha256sum mke2fs; do
    ln -s busybox "$root/bin/$a"
done

# udhcpc hook. Debian's busybox looks for /etc/udhcpc/default.script: /init passes -s explicitly.
cat > "$root/usr/share/udhcpc/default.script" <<'HOOK'
#!/bin/sh
# $1: deconfig | bound | renew | nak | leasefail; the lease comes in the environment.
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface" 2>/dev/null
    echo "$ip" > /run/lease-ip
    ;;
esac
exit 0
HOOK
chmod 755 "$root/usr/share/udhcpc/default.script"

# sweep PREFIX [FIRST] [LAST]: the in-guest stand-in for nmap -sn (32 pings at a time: more
# runs a 128 MB guest out of memory).
cat > "$root/bin/sweep" <<'SWEEP'
#!/bin/sh
p=$1; first=${2:-1}; last=${3:-254}
: > /run/sweep
for i in $(seq "$first" "$last"); do
    (ping -c 1 -W 1 "$p.$i" >/dev/null 2>&1 && echo "SWEEP up $p.$i" >> /run/sweep) &
    [ $(( (i - first + 1) % 32 )) = 0 ] && wait
done
wait
sort -t . -k 4 -n /run/sweep
echo "SWEEP hosts=$(wc -l < /run/sweep)"
SWEEP
chmod 755 "$root/bin/sweep"

cat > "$root/init" <<'INIT'
#!/bin/sh
# Knobs from the kernel command line (names without a dot reach init as environment):
#   tvm_name=NAME  hostname and marker name      tvm_static=A/N  no DHCP, this address
#   tvm_run="CMD"  run after the lease           tvm_off=1       power off at the end
# qemu -fw_cfg name=opt/tvm/run,file=SCRIPT runs SCRIPT after tvm_run.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
exec </dev/console >/dev/console 2>&1
while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done < /lib/modules/order
name=${tvm_name:-tvm}
hostname "$name"
ip link set lo up
n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
ip link set eth0 up
mac=$(cat /sys/class/net/eth0/address 2>/dev/null)
if [ -b /dev/vda ]; then
    mkdir -p /mnt/disk
    if mount -t ext4 /dev/vda /mnt/disk; then
        c=$(( $(cat /mnt/disk/boots 2>/dev/null || echo 0) + 1 ))
        echo $c > /mnt/disk/boots; sync
        echo "VM-DISK boots=$c id=$(cat /mnt/disk/id 2>/dev/null)"
    fi
fi
if [ -n "$tvm_static" ]; then
    ip addr add "$tvm_static" dev eth0 && echo "${tvm_static%/*}" > /run/lease-ip
else
    # 10 tries 1 s apart, quit once leased, give up after the tries (-n): no endless retry.
    udhcpc -i eth0 -s /usr/share/udhcpc/default.script -f -q -n -t 10 -T 1 -A 1 -S >/dev/null 2>&1
fi
ip=$(cat /run/lease-ip 2>/dev/null)
if [ -n "$ip" ]; then
    echo "VM-READY name=$name ip=$ip mac=$mac uptime=$(cut -d' ' -f1 /proc/uptime)"
else
    echo "VM-FAILED name=$name reason=no-dhcp-lease mac=$mac"
fi
[ -f /mnt/disk/rc ] && sh /mnt/disk/rc
if [ -n "$tvm_run" ]; then
    sh -c "$tvm_run"
    echo "VM-CMD-EXIT rc=$?"
fi
fw=/sys/firmware/qemu_fw_cfg/by_name/opt/tvm/run/raw
if [ -r $fw ]; then
    sh $fw
    echo "VM-SCRIPT-EXIT rc=$?"
fi
[ -b /dev/vda ] && umount /mnt/disk 2>/dev/null
if [ "$tvm_off" = 1 ]; then
    sync
    poweroff -f
fi
while true; do setsid cttyhack sh; sleep 1; done
INIT
chmod 755 "$root/init"

(cd "$root" && find . | sort | "$root/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null) \
    | gzip -9 > "$out/initramfs.gz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initramfs.gz.new" "$out/initramfs.gz"
{
    echo "kernel $(basename "$kdeb")"
    echo "busybox $(basename "$bdeb")"
    echo "script $(sha256sum "$0" | cut -d' ' -f1)"
} > "$out/stamp"
echo "kernel:    $out/vmlinuz ($(stat -c %s "$out/vmlinuz") bytes, $(basename "$kdeb"))"
echo "initramfs: $out/initramfs.gz ($(stat -c %s "$out/initramfs.gz") bytes)"
