//! Real peers started against a switch: a paused qemu with a `-netdev vde` NIC, and a `dpipe`
//! cable of two real `vde_plug`s between two switches.

use std::path::Path;
use std::process::Command;

use crate::proc::{Child, Spawn};
use crate::tools::{DPIPE, QEMU, VDE_PLUG};

/// Starts a paused qemu (`-S`, TCG, no display, no disk) whose virtio NIC attaches to the
/// switch at `dir` through `-netdev vde`, on `port` when given.
pub fn qemu_paused(dir: &Path, port: Option<u32>, logdir: &Path) -> Child {
    let mut netdev = format!("vde,id=n0,sock={}", dir.display());
    if let Some(p) = port {
        netdev.push_str(&format!(",port={p}"));
    }
    let mut cmd = Command::new(QEMU);
    cmd.args([
        "-S",
        "-accel",
        "tcg",
        "-display",
        "none",
        "-nodefaults",
        "-m",
        "64",
    ])
    .args(["-netdev", &netdev])
    .args(["-device", "virtio-net-pci,netdev=n0"]);
    Child::spawn("qemu", cmd, logdir, Spawn::default())
}

/// Starts `dpipe /usr/bin/vde_plug A = /usr/bin/vde_plug B` in its own process group (killed as
/// a group on drop): a cable between the switches at `a` and `b`.
pub fn dpipe_cable(a: &Path, b: &Path, logdir: &Path) -> Child {
    let mut cmd = Command::new(DPIPE);
    cmd.arg(VDE_PLUG).arg(a).arg("=").arg(VDE_PLUG).arg(b);
    let how = Spawn {
        keep_stdin_open: false,
        own_group: true,
    };
    Child::spawn("dpipe", cmd, logdir, how)
}
