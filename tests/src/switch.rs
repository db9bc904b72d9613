//! Starting a switch of a given [`SwitchKind`] on a fresh control directory.
//!
//! Every scenario takes the kind as a parameter so that the same assertions run against our
//! binary, our binary invoked as `vde_switch` (a symlink in a temp dir, never on PATH), and the
//! real `vde_switch` 2.3.2 they must be a drop-in for.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::mgmt::{Mgmt, Reply};
use crate::proc::{Child, Spawn};
use crate::tmp::TempDir;
use crate::tools::{f2f_bin, require_f2f, require_real_vde, VDE_SWITCH};
use crate::wait_until;

/// Which switch implementation a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchKind {
    /// `f2f-overlay switch …`
    Ours,
    /// Our binary run through a symlink named `vde_switch` (in a temp dir).
    OursAsVdeSwitch,
    /// The real `/usr/bin/vde_switch` (stdin kept open: it exits on stdin EOF).
    RealVdeSwitch,
}

impl SwitchKind {
    /// `ours`, `symlink` or `real` (the test names [`crate::for_kinds!`] generates).
    pub fn by_short_name(name: &str) -> SwitchKind {
        match name {
            "ours" => SwitchKind::Ours,
            "symlink" => SwitchKind::OursAsVdeSwitch,
            "real" => SwitchKind::RealVdeSwitch,
            other => panic!("unknown switch kind {other:?}"),
        }
    }

    /// True for our binary under either name.
    pub fn is_ours(self) -> bool {
        self != SwitchKind::RealVdeSwitch
    }

    /// Checks that this kind's binary is there (see [`crate::require!`]).
    pub fn available(self) -> bool {
        match self {
            SwitchKind::Ours | SwitchKind::OursAsVdeSwitch => require_f2f(),
            SwitchKind::RealVdeSwitch => require_real_vde(),
        }
    }

    /// The command that starts this kind, before any switch flag. For the symlink kind the
    /// symlink `tmp/bin/vde_switch` is created on first use.
    pub fn command(self, tmp: &TempDir) -> Command {
        match self {
            SwitchKind::Ours => {
                let mut c = Command::new(f2f_bin());
                c.arg("switch");
                c
            }
            SwitchKind::OursAsVdeSwitch => Command::new(vde_switch_symlink(tmp)),
            SwitchKind::RealVdeSwitch => Command::new(VDE_SWITCH),
        }
    }
}

/// Creates (once) `tmp/bin/vde_switch` pointing at our binary and returns its path.
pub fn vde_switch_symlink(tmp: &TempDir) -> PathBuf {
    let bin = tmp.join("bin");
    let link = bin.join("vde_switch");
    if !link.exists() {
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        let target = std::fs::canonicalize(f2f_bin()).unwrap_or_else(|_| f2f_bin());
        std::os::unix::fs::symlink(target, &link).expect("symlink vde_switch");
    }
    link
}

/// A running switch with its control directory and management socket.
#[derive(Debug)]
pub struct Switch {
    /// What runs.
    pub kind: SwitchKind,
    /// The control directory (`-s`).
    pub dir: PathBuf,
    /// The management socket (`-M`).
    pub mgmt: PathBuf,
    /// The switch process.
    pub child: Child,
}

impl Switch {
    /// Starts `kind` with `-s tmp/NAME -M tmp/NAME.mgmt` plus `extra` flags and waits until
    /// both sockets exist. Panics (with the switch's stderr) if it exits or times out.
    pub fn start(kind: SwitchKind, tmp: &TempDir, name: &str, extra: &[&str]) -> Switch {
        let dir = tmp.join(name);
        let mgmt = tmp.join(&format!("{name}.mgmt"));
        let mut cmd = kind.command(tmp);
        cmd.arg("-s").arg(&dir).arg("-M").arg(&mgmt).args(extra);
        let how = Spawn {
            keep_stdin_open: kind == SwitchKind::RealVdeSwitch,
            own_group: false,
        };
        let mut child = Child::spawn(&format!("switch-{name}"), cmd, tmp.path(), how);
        let ctl = dir.join("ctl");
        let up = wait_until(Duration::from_secs(10), || {
            (is_socket(&ctl) && is_socket(&mgmt)) || !child.is_running()
        });
        assert!(
            up && child.is_running(),
            "{kind:?} switch did not come up on {} (exit {:?}); stderr:\n{}",
            dir.display(),
            child.try_status(),
            child.stderr()
        );
        Switch {
            kind,
            dir,
            mgmt,
            child,
        }
    }

    /// A new management console connection (banner already read).
    pub fn console(&self) -> Mgmt {
        Mgmt::connect(&self.mgmt)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.mgmt.display()))
    }

    /// Runs one console command on a fresh connection.
    pub fn cmd(&self, line: &str) -> Reply {
        self.console()
            .cmd(line)
            .unwrap_or_else(|e| panic!("console command {line:?}: {e}"))
    }

    /// The switch's stderr so far (its log).
    pub fn log(&self) -> String {
        self.child.stderr()
    }

    /// Waits until the switch's log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }
}

/// True if `p` exists and is a unix socket.
pub fn is_socket(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}
