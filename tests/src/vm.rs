//! qemu guests for the tests: the cached image builds (`images/*.sh`) and `f2f-overlay vm`
//! processes with their serial consoles.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::dhcp::{cache_dir, test_vm_image};
use crate::proc::{Child, Spawn};
use crate::tools::{f2f_bin, system_tool, unmet};
use crate::wait_until;

/// How long a VM gets from start to its readiness line: ~5–10 s alone under TCG on the 2-core
/// test host, more when several boot at once on a busy machine.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// The repository's `images/` directory.
pub fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../images")
}

/// The sha256 of a file as hex, or "" when it cannot be read.
pub fn sha256(path: &Path) -> String {
    Command::new(system_tool("sha256sum"))
        .arg(path)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Runs `images/SCRIPT OUT` (with `env`) unless `OUT/stamp` already holds every line of
/// `stamp_needs` and every file of `outputs` is in `OUT`. `None` (after [`unmet`]) when the
/// build fails.
pub fn cached_build(
    script: &str,
    out: &Path,
    outputs: &[&str],
    stamp_needs: &[String],
    env: &[(&str, PathBuf)],
) -> Option<PathBuf> {
    let stamp = std::fs::read_to_string(out.join("stamp")).unwrap_or_default();
    let fresh = stamp_needs
        .iter()
        .all(|need| !need.trim().is_empty() && stamp.lines().any(|l| l == need.trim()))
        && outputs.iter().all(|f| out.join(f).is_file());
    if fresh {
        return Some(out.to_path_buf());
    }
    let mut cmd = Command::new("bash");
    cmd.arg(images_dir().join(script)).arg(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(o) if o.status.success() => Some(out.to_path_buf()),
        Ok(o) => {
            unmet(&format!(
                "images/{script} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
            None
        }
        Err(e) => {
            unmet(&format!("cannot run images/{script}: {e}"));
            None
        }
    }
}

/// The master and slave image bundles (`images/build-bundles.sh`) in the cache, rebuilt when
/// the script or the test VM changed. `None` (after [`unmet`]) when they cannot be built.
pub fn image_bundles() -> Option<PathBuf> {
    let tvm = test_vm_image()?;
    let mut needs: Vec<String> = std::fs::read_to_string(tvm.join("stamp"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    needs.push(format!(
        "bundles {}",
        sha256(&images_dir().join("build-bundles.sh"))
    ));
    let files = [
        "master/image.toml",
        "master/base.qcow2",
        "slave/image.toml",
        "slave/base.qcow2",
    ];
    cached_build(
        "build-bundles.sh",
        &cache_dir().join("vm-bundles"),
        &files,
        &needs,
        &[("TVM_DIR", tvm)],
    )
}

/// An `f2f-overlay vm` process.
#[derive(Debug)]
pub struct VmProc {
    /// The launcher.
    pub child: Child,
    /// The VM's directory: `STATE/vms/NAME`.
    pub dir: PathBuf,
}

impl VmProc {
    /// Starts `f2f-overlay vm IMAGE -s SWITCH --state-dir STATE --name NAME` plus `extra`.
    pub fn start(
        image: &Path,
        switch_dir: &Path,
        state: &Path,
        name: &str,
        extra: &[&str],
        logdir: &Path,
    ) -> VmProc {
        let mut cmd = Command::new(f2f_bin());
        cmd.arg("vm")
            .arg(image)
            .arg("-s")
            .arg(switch_dir)
            .arg("--state-dir")
            .arg(state)
            .args(["--name", name])
            .args(extra);
        VmProc {
            child: Child::spawn(&format!("vm-{name}"), cmd, logdir, Spawn::default()),
            dir: state.join("vms").join(name),
        }
    }

    /// The serial console so far.
    pub fn console(&self) -> String {
        std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    /// The first console line starting with one of `prefixes`, waiting up to `timeout`; `None`
    /// if the launcher exits or time runs out first.
    pub fn wait_line(&mut self, prefixes: &[&str], timeout: Duration) -> Option<String> {
        let mut found = None;
        wait_until(timeout, || {
            found = self
                .console()
                .lines()
                .find(|l| prefixes.iter().any(|p| l.starts_with(p)))
                .map(str::to_string);
            found.is_some() || !self.child.is_running()
        });
        found
    }

    /// The `VM-READY` line, panicking with the console and the launcher's stderr if it does
    /// not come within [`BOOT_TIMEOUT`].
    pub fn wait_ready(&mut self) -> String {
        match self.wait_line(&["VM-READY", "VM-FAILED"], BOOT_TIMEOUT) {
            Some(l) if l.starts_with("VM-READY") => l,
            other => panic!(
                "{} not ready ({other:?}); console:\n{}\nlauncher:\n{}",
                self.child.name(),
                self.console(),
                self.child.stderr()
            ),
        }
    }

    /// qemu's pid, from its pid file.
    pub fn qemu_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("qemu.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// The value of `key=` in a marker line such as `VM-READY name=a ip=10.0.0.2 mac=...`.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// True if process `pid` exists.
pub fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_marker_fields() {
        let l = "VM-READY name=a ip=10.0.0.2 mac=52:54:00:00:00:01 uptime=2.1";
        assert_eq!(field(l, "ip"), Some("10.0.0.2"));
        assert_eq!(field(l, "mac"), Some("52:54:00:00:00:01"));
        assert_eq!(field(l, "i"), None);
    }
}
