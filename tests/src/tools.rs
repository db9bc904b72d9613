//! Where the tools under test are, and what a test does when one is missing.
//!
//! Rule (STYLE.md, "Tests at three levels"): under `CI=true` a missing tool or missing root is a
//! failure that names the reason; otherwise the test prints the reason and returns early. Real
//! VDE tools are always called by absolute path and their version is checked once, so a
//! `vde_switch` symlink to our binary on PATH can never stand in for the reference.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The real switch we compare against.
pub const VDE_SWITCH: &str = "/usr/bin/vde_switch";
/// The real stream plug (vdeplug 4).
pub const VDE_PLUG: &str = "/usr/bin/vde_plug";
/// The real tap plug (vde2).
pub const VDE_PLUG2TAP: &str = "/usr/bin/vde_plug2tap";
/// vdeplug's process plumber for cables.
pub const DPIPE: &str = "/usr/bin/dpipe";
/// vde2's management-socket terminal.
pub const UNIXTERM: &str = "/usr/bin/unixterm";
/// qemu, for `-netdev vde`.
pub const QEMU: &str = "/usr/bin/qemu-system-x86_64";
/// qemu-img (package qemu-utils).
pub const QEMU_IMG: &str = "/usr/bin/qemu-img";

/// The vde_switch version the interop tests are written against.
pub const VDE_SWITCH_VERSION: &str = "VDE 2.3.2";
/// The vdeplug package version prefix the interop tests are written against.
pub const VDEPLUG_VERSION_PREFIX: &str = "4.";

/// True when running under CI (`CI=true` or `CI=1`).
pub fn ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Reports an unmet prerequisite: panics under CI, otherwise prints it and returns `false`.
pub fn unmet(reason: &str) -> bool {
    if ci() {
        panic!("CI=true and a prerequisite is missing: {reason}");
    }
    eprintln!("SKIPPED (not under CI): {reason}");
    false
}

/// The test needs root (network namespaces, taps, chown).
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        unmet("this test needs root (network namespaces, taps)")
    }
}

/// The test needs the executable at `path`.
pub fn require_tool(path: &str) -> bool {
    if is_executable(Path::new(path)) {
        true
    } else {
        unmet(&format!(
            "{path} is missing (run tests/run-all.sh, which installs it)"
        ))
    }
}

/// The test needs the real VDE tools, at the versions the specs were verified with.
pub fn require_real_vde() -> bool {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    match CHECK.get_or_init(check_real_vde) {
        Ok(()) => true,
        Err(reason) => unmet(reason),
    }
}

fn check_real_vde() -> Result<(), String> {
    for tool in [VDE_SWITCH, VDE_PLUG, VDE_PLUG2TAP, DPIPE, UNIXTERM] {
        if !is_executable(Path::new(tool)) {
            return Err(format!("{tool} is missing (apt-get install vde2 vdeplug)"));
        }
    }
    let out = Command::new(VDE_SWITCH)
        .arg("-v")
        .output()
        .map_err(|e| format!("{VDE_SWITCH} -v: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains(VDE_SWITCH_VERSION) {
        return Err(format!(
            "{VDE_SWITCH} -v says {:?}, expected {VDE_SWITCH_VERSION}",
            text.lines().next().unwrap_or("")
        ));
    }
    // vde_plug has no version flag: ask dpkg which vdeplug owns it.
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "vdeplug"])
        .output()
        .map_err(|e| format!("dpkg-query vdeplug: {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout);
    if !version.starts_with(VDEPLUG_VERSION_PREFIX) {
        return Err(format!(
            "vdeplug package version is {version:?}, expected {VDEPLUG_VERSION_PREFIX}x"
        ));
    }
    Ok(())
}

/// Path of the f2f-overlay binary under test: `$F2F_BIN`, else `release/f2f-overlay` in the
/// target directory this test executable was built in (`TARGET/PROFILE/deps/TEST`), so
/// `CARGO_TARGET_DIR` is honoured and a debug test run still drives the release binary.
pub fn f2f_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("F2F_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release/f2f-overlay")
}

/// The test needs our binary (built by `cargo build --release -p f2f-overlay`).
pub fn require_f2f() -> bool {
    let bin = f2f_bin();
    if is_executable(&bin) {
        true
    } else {
        unmet(&format!(
            "{} is missing: run `cargo build --release -p f2f-overlay` or set F2F_BIN",
            bin.display()
        ))
    }
}

/// Finds a system tool in the usual sbin/bin directories (CI's PATH may lack /usr/sbin).
pub fn system_tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(name);
        if is_executable(&p) {
            return p;
        }
    }
    PathBuf::from(name)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
