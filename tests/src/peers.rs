//! Real peers started against a switch: a paused qemu with a `-netdev vde` or `-netdev stream`
//! NIC, and `dpipe` cables of two plugs (real `vde_plug`s, ours through a `vde_plug` symlink, or
//! `f2f-overlay plug`) between two switches.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::proc::{Child, Spawn};
use crate::tmp::TempDir;
use crate::tools::{f2f_bin, DPIPE, QEMU, VDE_PLUG};

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

/// Starts a paused qemu whose virtio NIC connects to the switch's `--stream-listen` socket
/// through `-netdev stream,server=off`.
pub fn qemu_stream_paused(sock: &Path, logdir: &Path) -> Child {
    let netdev = format!(
        "stream,id=n0,server=off,addr.type=unix,addr.path={}",
        sock.display()
    );
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
    Child::spawn("qemu-stream", cmd, logdir, Spawn::default())
}

/// Creates (once) `tmp/bin/vde_plug` pointing at our binary and returns its path. Never on
/// PATH: callers run it by this path.
pub fn vde_plug_symlink(tmp: &TempDir) -> PathBuf {
    let bin = tmp.join("bin");
    let link = bin.join("vde_plug");
    if !link.exists() {
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        let target = std::fs::canonicalize(f2f_bin()).unwrap_or_else(|_| f2f_bin());
        std::os::unix::fs::symlink(target, &link).expect("symlink vde_plug");
    }
    link
}

/// Which program plugs one end of a cable into its switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlugKind {
    /// `/usr/bin/vde_plug` (vdeplug 4).
    Real,
    /// Our binary through a symlink named `vde_plug`.
    OursSymlink,
    /// `f2f-overlay plug`.
    OursSubcommand,
}

impl PlugKind {
    /// The argv that plugs into the switch at `dir` (for dpipe).
    pub fn argv(self, tmp: &TempDir, dir: &Path) -> Vec<OsString> {
        let mut argv: Vec<OsString> = match self {
            PlugKind::Real => vec![VDE_PLUG.into()],
            PlugKind::OursSymlink => vec![vde_plug_symlink(tmp).into()],
            PlugKind::OursSubcommand => vec![f2f_bin().into(), "plug".into()],
        };
        argv.push(dir.into());
        argv
    }

    /// A `Command` running the plug against `dir`.
    pub fn command(self, tmp: &TempDir, dir: &Path) -> Command {
        let argv = self.argv(tmp, dir);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd
    }
}

/// Starts `dpipe LEFT… = RIGHT…` in its own process group (killed as a group on drop).
pub fn dpipe(left: &[OsString], right: &[OsString], logdir: &Path) -> Child {
    let mut cmd = Command::new(DPIPE);
    cmd.args(left).arg("=").args(right);
    let how = Spawn {
        keep_stdin_open: false,
        own_group: true,
    };
    Child::spawn("dpipe", cmd, logdir, how)
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
