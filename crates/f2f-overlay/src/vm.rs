//! `f2f-overlay vm` (spec/cli.md): a qemu guest from a base image, attached
//! to a switch with `-netdev vde`.
//!
//! Each run gets a fresh qcow2 overlay in `STATE_DIR/vms/NAME/overlay.qcow2`
//! whose backing file is the base disk, so the base is only ever read and any
//! number of VMs can share it. Beside the overlay: the serial console
//! (`console.log`), qemu's own messages (`qemu.log`) and its pid file.
//!
//! The run ends when
//! - the guest powers off (qemu exits 0): a clean stop;
//! - the caller's stop future fires (Ctrl-C, SIGTERM): qemu gets SIGTERM;
//! - the switch goes away: qemu does not notice that itself (it keeps a dead
//!   VDE connection), so the launcher holds a session on the switch's
//!   management socket (`DIR/mgmt`) and stops qemu at its end of file, or,
//!   when there is no management socket there (a vde_switch without `-M`,
//!   ours with `-M` elsewhere) or the switch ends the session while its
//!   control socket still answers (`--max-consoles` reached), checks every
//!   second that `DIR/ctl` still accepts connections;
//! - the guest fails: qemu exits non-zero, or the guest kernel panics (seen on
//!   the console; with `panic=-1` and qemu's `-no-reboot` qemu exits).
//!
//! The overlay rule: it is removed after a clean stop (unless
//! `--keep-overlay`) and kept for inspection whenever the VM failed, and the
//! error says where it is.
//!
//! [`launch`] and [`Vm::run`] are the library entry points (`join --vm` starts
//! a member's VM with its granted MAC through them). The pure parts (the
//! image bundle, the KVM/TCG choice, the qemu command line) are in
//! [`f2f_core::vm`].

use std::future::Future;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use f2f_core::mac::MacAddr;
use f2f_core::vm::{
    check_append, check_mac, check_memory, check_name, choose_accel, default_name, guest_panic,
    overlay_args, random_mac, AccelChoice, AccelDecision, DiskInfo, Image, ImageToml, QemuPlan,
    BUNDLE_FILE, DEFAULT_MEMORY_MB,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tracing::{info, warn};

use crate::state;
use crate::sys;

/// The emulator.
pub const QEMU: &str = "qemu-system-x86_64";
/// The disk tool.
pub const QEMU_IMG: &str = "qemu-img";
/// How long qemu gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often the console file is read (mirrored to stdout, checked for a
/// panic) and, without a management socket, the switch is checked.
const POLL: Duration = Duration::from_millis(200);

/// What to run: `f2f-overlay vm`'s flags.
#[derive(Clone, Debug, Default)]
pub struct VmOptions {
    /// A disk image or an image bundle directory.
    pub image: PathBuf,
    /// The switch's control directory.
    pub switch_dir: PathBuf,
    /// The state directory (the VM's files go to `vms/NAME/`).
    pub state_dir: PathBuf,
    /// The VM's name (default: the image's).
    pub name: Option<String>,
    /// The NIC's MAC (default: random `52:54:00:xx:xx:xx`).
    pub mac: Option<MacAddr>,
    /// Guest memory in MB (default: the bundle's, else 128).
    pub memory: Option<u32>,
    /// KVM, TCG or auto.
    pub accel: AccelChoice,
    /// Kernel, overriding the bundle's.
    pub kernel: Option<PathBuf>,
    /// Initrd, overriding the bundle's.
    pub initrd: Option<PathBuf>,
    /// Kernel command line, replacing the bundle's.
    pub append: Option<String>,
    /// Keep the overlay after a clean stop too.
    pub keep_overlay: bool,
    /// Copy the guest's console to stdout as it comes.
    pub mirror_console: bool,
}

/// How a VM run ended without failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The guest powered off.
    PoweredOff,
    /// The caller asked (the text says why, e.g. "SIGINT").
    Stopped(String),
    /// The switch went away, so qemu was stopped.
    SwitchGone,
}

/// A running VM.
#[derive(Debug)]
pub struct Vm {
    name: String,
    mac: MacAddr,
    switch_dir: PathBuf,
    overlay: PathBuf,
    console: PathBuf,
    qemu_log: PathBuf,
    keep_overlay: bool,
    mirror_console: bool,
    child: tokio::process::Child,
}

/// Resolves the image, makes the overlay and starts qemu. Errors name the
/// cause: a missing or corrupt image, qemu or qemu-img not installed, no
/// switch at the directory, a VM of that name already running.
pub async fn launch(opts: &VmOptions) -> Result<Vm> {
    let image = resolve_image(opts)?;
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| default_name(&opts.image));
    check_name(&name).map_err(|e| anyhow!("VM name {name:?}: {e}"))?;
    let mac = opts.mac.unwrap_or_else(|| random_mac(rand::random()));
    check_mac(mac).map_err(|e| anyhow!("--mac {e}"))?;
    let memory = opts.memory.or(image.memory).unwrap_or(DEFAULT_MEMORY_MB);
    check_memory(memory).map_err(|e| anyhow!("--memory: {e}"))?;
    let accel = decide_accel(opts.accel)?;
    let ctl = opts.switch_dir.join("ctl");
    if !std::fs::metadata(&ctl).is_ok_and(|m| m.file_type().is_socket()) {
        bail!(
            "no VDE switch at {}: {} is not a socket (start one with `f2f-overlay switch -s {}`)",
            opts.switch_dir.display(),
            ctl.display(),
            opts.switch_dir.display()
        );
    }
    let qemu = find_on_path(QEMU).ok_or_else(|| {
        anyhow!("{QEMU} is not installed (not found on PATH): install the Debian package qemu-system-x86")
    })?;
    let format = check_base(&image.disk).await?;

    let dir = opts.state_dir.join("vms").join(&name);
    state::ensure_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pidfile = dir.join("qemu.pid");
    if let Some(pid) = running_pid(&pidfile) {
        bail!(
            "a VM named {name} is already running (qemu pid {pid}, {}): choose another --name",
            dir.display()
        );
    }
    let overlay = dir.join("overlay.qcow2");
    let console = dir.join("console.log");
    let qemu_log = dir.join("qemu.log");
    for stale in [&overlay, &console, &qemu_log, &pidfile] {
        match std::fs::remove_file(stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", stale.display()))
            }
            _ => {}
        }
    }
    let out = qemu_img(&overlay_args(&image.disk, &format, &overlay)).await?;
    if !out.status.success() {
        bail!(
            "cannot create the overlay {} on {}: {}",
            overlay.display(),
            image.disk.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let plan = QemuPlan {
        name: name.clone(),
        accel: accel.accel,
        memory_mb: memory,
        mac,
        switch_dir: absolute(&opts.switch_dir)?,
        overlay: overlay.clone(),
        console: console.clone(),
        pidfile,
        kernel: image.kernel,
        initrd: image.initrd,
        append: image.append,
    };
    let log = std::fs::File::create(&qemu_log)
        .with_context(|| format!("cannot create {}", qemu_log.display()))?;
    let mut cmd = tokio::process::Command::new(&qemu);
    cmd.args(plan.args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // its own process group: a Ctrl-C at the terminal reaches only us, and
        // we stop qemu ourselves
        .process_group(0)
        .kill_on_drop(true);
    sys::child::signal_with_parent(&mut cmd, Signal::SIGTERM);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", qemu.display()))?;
    info!(
        vm = %name,
        pid = child.id().unwrap_or(0),
        memory_mb = memory,
        "qemu started; {}",
        accel.why
    );
    Ok(Vm {
        name,
        mac,
        switch_dir: opts.switch_dir.clone(),
        overlay,
        console,
        qemu_log,
        keep_overlay: opts.keep_overlay,
        mirror_console: opts.mirror_console,
        child,
    })
}

impl Vm {
    /// The NIC's MAC.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// The serial console's log file.
    pub fn console_path(&self) -> &Path {
        &self.console
    }

    /// The per-run overlay.
    pub fn overlay_path(&self) -> &Path {
        &self.overlay
    }

    /// Runs until the guest powers off, `stop` resolves (to the reason, e.g.
    /// "SIGINT"), the switch goes away, or the VM fails. A failure is an
    /// error naming the cause, the console log and the kept overlay.
    pub async fn run(mut self, stop: impl Future<Output = String>) -> Result<Ended> {
        let mut console = ConsoleTail::new(&self.console, self.mirror_console);
        let switch_gone = switch_gone(self.switch_dir.clone());
        tokio::pin!(stop, switch_gone);
        let mut tick = tokio::time::interval(POLL);
        let outcome = loop {
            tokio::select! {
                status = self.child.wait() => {
                    let status = status.context("cannot wait for qemu")?;
                    console.poll();
                    break self.classify_exit(status, console.panic.as_deref());
                }
                why = &mut stop => {
                    info!(vm = %self.name, "{why}: stopping the VM");
                    self.stop_qemu().await;
                    break Ok(Ended::Stopped(why));
                }
                () = &mut switch_gone => {
                    warn!(vm = %self.name, dir = %self.switch_dir.display(), "the switch went away: stopping the VM");
                    self.stop_qemu().await;
                    break Ok(Ended::SwitchGone);
                }
                _ = tick.tick() => {
                    console.poll();
                    if let Some(line) = &console.panic {
                        let line = line.clone();
                        self.stop_qemu().await;
                        break Err(self.failed(&format!("the guest crashed (kernel panic): {line}")));
                    }
                }
            }
        };
        if outcome.is_ok() {
            if self.keep_overlay {
                info!(vm = %self.name, overlay = %self.overlay.display(), "overlay kept (--keep-overlay)");
            } else if let Err(e) = std::fs::remove_file(&self.overlay) {
                warn!(overlay = %self.overlay.display(), "cannot remove the overlay: {e}");
            }
        }
        outcome
    }

    fn classify_exit(&self, status: ExitStatus, panic: Option<&str>) -> Result<Ended> {
        if let Some(line) = panic {
            return Err(self.failed(&format!("the guest crashed (kernel panic): {line}")));
        }
        if status.success() {
            return Ok(Ended::PoweredOff);
        }
        let said = std::fs::read_to_string(&self.qemu_log).unwrap_or_default();
        let said = said.trim();
        Err(self.failed(&format!(
            "qemu exited with {status}{}{said}",
            if said.is_empty() { "" } else { ": " }
        )))
    }

    fn failed(&self, cause: &str) -> anyhow::Error {
        anyhow!(
            "VM {} failed: {cause} (console: {}; overlay kept for inspection: {})",
            self.name,
            self.console.display(),
            self.overlay.display()
        )
    }

    /// SIGTERM (qemu then closes its disks cleanly), SIGKILL after
    /// [`STOP_GRACE`].
    async fn stop_qemu(&mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            warn!(vm = %self.name, "qemu ignored SIGTERM: killing it");
            let _ = self.child.kill().await;
        }
    }
}

/// The image with the command line's overrides applied, every file checked.
fn resolve_image(opts: &VmOptions) -> Result<Image> {
    let path = &opts.image;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("image {} cannot be read", path.display()))?;
    let mut image = if meta.is_dir() {
        let toml_path = path.join(BUNDLE_FILE);
        let text = std::fs::read_to_string(&toml_path).with_context(|| {
            format!(
                "{} is a directory but not an image bundle: cannot read {}",
                path.display(),
                toml_path.display()
            )
        })?;
        ImageToml::parse(&text)
            .map_err(|e| anyhow!("image bundle {}: {e}", toml_path.display()))?
            .resolve(path)
    } else {
        Image {
            disk: path.clone(),
            ..Image::default()
        }
    };
    if opts.kernel.is_some() {
        image.kernel.clone_from(&opts.kernel);
    }
    if opts.initrd.is_some() {
        image.initrd.clone_from(&opts.initrd);
    }
    if let Some(a) = &opts.append {
        check_append(a).map_err(|e| anyhow!("--append: {e}"))?;
        image.append = Some(a.clone());
    }
    if image.kernel.is_none() && (image.initrd.is_some() || image.append.is_some()) {
        bail!("--initrd and --append need a kernel (--kernel, or kernel in image.toml)");
    }
    for (what, file) in [
        ("base disk", Some(&image.disk)),
        ("kernel", image.kernel.as_ref()),
        ("initrd", image.initrd.as_ref()),
    ] {
        if let Some(f) = file {
            if !f.is_file() {
                bail!(
                    "image {}: {what} {} is missing or not a file",
                    path.display(),
                    f.display()
                );
            }
        }
    }
    image.disk = absolute(&image.disk)?;
    Ok(image)
}

/// The accelerator for `choice` on this host.
fn decide_accel(choice: AccelChoice) -> Result<AccelDecision> {
    let device = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| e.to_string());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    choose_accel(choice, device, &cpuinfo).map_err(anyhow::Error::msg)
}

/// Checks the base disk with `qemu-img info` (and `qemu-img check` for
/// qcow2) and returns its format.
async fn check_base(disk: &Path) -> Result<String> {
    let shown = disk.display();
    let mut args: Vec<std::ffi::OsString> = ["info", "-U", "--output=json"]
        .into_iter()
        .map(Into::into)
        .collect();
    args.push(disk.into());
    let out = qemu_img(&args).await?;
    if !out.status.success() {
        bail!(
            "base disk {shown} is not a usable disk image: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let info = DiskInfo::parse(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| anyhow!("base disk {shown}: {e}"))?;
    info.check_base(disk)
        .map_err(|e| anyhow!("base disk {shown} {e}"))?;
    if info.format == "qcow2" {
        let mut args: Vec<std::ffi::OsString> =
            ["check", "-U", "-q"].into_iter().map(Into::into).collect();
        args.push(disk.into());
        let out = qemu_img(&args).await?;
        // 0: clean; 3: leaked clusters only (harmless); else corrupt or unreadable.
        if !matches!(out.status.code(), Some(0 | 3)) {
            bail!(
                "base disk {shown} is corrupt (qemu-img check: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(info.format)
}

async fn qemu_img(args: &[std::ffi::OsString]) -> Result<std::process::Output> {
    let tool = find_on_path(QEMU_IMG).ok_or_else(|| {
        anyhow!("{QEMU_IMG} is not installed (not found on PATH): install the Debian package qemu-utils")
    })?;
    tokio::process::Command::new(&tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {}", tool.display()))
}

/// The first executable `name` in `$PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The pid in qemu's pid file if that process still runs qemu.
fn running_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let alive = kill(Pid::from_raw(pid), None).is_ok();
    (alive && String::from_utf8_lossy(&cmdline).contains("qemu")).then_some(pid)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
}

/// Resolves when the switch at `dir` is gone (see the module docs).
async fn switch_gone(dir: PathBuf) {
    let ctl = dir.join("ctl");
    if let Ok(mut session) = UnixStream::connect(dir.join("mgmt")).await {
        let mut buf = [0u8; 512];
        while matches!(session.read(&mut buf).await, Ok(n) if n > 0) {}
        // The session also ends when the switch refuses it (--max-consoles
        // reached) or logs it out: gone only if the control socket is too.
        if UnixStream::connect(&ctl).await.is_err() {
            return;
        }
    }
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if UnixStream::connect(&ctl).await.is_err() {
            return;
        }
    }
}

/// Follows the console file: copies new complete lines to stdout (when
/// asked) and remembers the kernel's panic line.
struct ConsoleTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    mirror: bool,
    panic: Option<String>,
}

impl ConsoleTail {
    fn new(path: &Path, mirror: bool) -> ConsoleTail {
        ConsoleTail {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
            mirror,
            panic: None,
        }
    }

    fn poll(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut new = Vec::new();
        let Ok(n) = f.read_to_end(&mut new) else {
            return;
        };
        self.offset += n as u64;
        self.partial.extend_from_slice(&new);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let lines: Vec<u8> = self.partial.drain(..=end).collect();
        let text = String::from_utf8_lossy(&lines);
        if self.panic.is_none() {
            self.panic = guest_panic(&text).map(str::to_string);
        }
        if self.mirror {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.replace('\r', "").as_bytes());
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_tail_takes_whole_lines_and_spots_a_panic() {
        let dir = std::env::temp_dir().join(format!("f2f-vm-tail-{}", std::process::id()));
        state::ensure_dir(&dir).unwrap();
        let log = dir.join("console.log");
        let mut tail = ConsoleTail::new(&log, false);
        tail.poll(); // no file yet
        std::fs::write(&log, "VM-READY ip=1.2.3.4\n[ 1.0] Kernel panic - not sync").unwrap();
        tail.poll();
        assert_eq!(tail.panic, None, "half a line is not read yet");
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"ing: VFS\n").unwrap();
        tail.poll();
        assert_eq!(
            tail.panic.as_deref(),
            Some("[ 1.0] Kernel panic - not syncing: VFS")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_tools_on_path_and_stale_pid_files() {
        assert!(find_on_path("sh").is_some());
        assert_eq!(find_on_path("no-such-tool-f2f"), None);
        let dir = std::env::temp_dir().join(format!("f2f-vm-pid-{}", std::process::id()));
        state::ensure_dir(&dir).unwrap();
        let pidfile = dir.join("qemu.pid");
        assert_eq!(running_pid(&pidfile), None);
        // our own pid runs, but not qemu: a stale file from another program
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(running_pid(&pidfile), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
