//! The state directory (spec/cli.md): where the node key, DHCP leases, room
//! grants and VM overlays live, and the one way files in it are written:
//! atomically, so a crash or power cut leaves either the old file or the new
//! one, never a torn mix.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

/// The default state directory for root.
pub const ROOT_STATE_DIR: &str = "/var/lib/f2f-overlay";

/// `--state-dir DIR` if given; else `/var/lib/f2f-overlay` as root, else
/// `$XDG_STATE_HOME/f2f-overlay` (`~/.local/state/f2f-overlay` when unset).
pub fn state_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if sys::is_root() {
        return PathBuf::from(ROOT_STATE_DIR);
    }
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/"));
        PathBuf::from(home).join(".local/state")
    });
    base.join("f2f-overlay")
}

/// Creates `dir` and its parents if missing, new directories with mode 0700
/// (the state directory holds keys).
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Replaces `path` with `bytes` atomically: write a temporary file in the same
/// directory, fsync it, rename it over `path`, fsync the directory (so the
/// rename itself survives a power cut). The file gets `mode` (new files only
/// ever appear complete). On error the temporary file is removed and `path`
/// is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("f2f-state-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ensure_dir(&dir.join("sub")).unwrap();
        let p = dir.join("sub/leases.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("leases.json")]);
        assert!(write_atomic(&dir.join("missing/x"), b"x", 0o600).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn state_dir_flag_wins() {
        assert_eq!(state_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
    }
}
