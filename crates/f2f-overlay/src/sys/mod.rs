//! Operating-system glue: users, groups, file modes (safe wrappers from std
//! and nix) and, in submodules, the few system calls that need `unsafe`: the
//! only place in the shell allowed to use it (`mmsg`: batched datagram I/O;
//! `tap`: opening a tap with `ioctl(TUNSETIFF)`; `child`: tying a child
//! process to our life).

pub mod child;
pub mod daemon;
pub mod mmsg;
pub mod tap;

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::unistd::{Gid, Group, Uid, User};

/// True when running as root.
pub fn is_root() -> bool {
    Uid::effective().is_root()
}

/// The name of user `uid`, or the number.
pub fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

/// The name of group `gid`, or the number.
pub fn group_name(gid: u32) -> String {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(g)) => g.name,
        _ => gid.to_string(),
    }
}

/// The uid of the user called `name`, if there is one.
pub fn uid_by_name(name: &str) -> Option<u32> {
    match User::from_name(name) {
        Ok(Some(u)) => Some(u.uid.as_raw()),
        _ => None,
    }
}

/// The gid of the group called `name`, if there is one.
pub fn gid_by_name(name: &str) -> Option<u32> {
    match Group::from_name(name) {
        Ok(Some(g)) => Some(g.gid.as_raw()),
        _ => None,
    }
}

/// The home directory of the user running us (`$HOME`, else the password
/// database).
pub fn home_dir() -> Option<std::path::PathBuf> {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(home.into());
    }
    match User::from_uid(Uid::effective()) {
        Ok(Some(u)) => Some(u.dir),
        _ => None,
    }
}

/// Resolve a group given by name or number.
pub fn resolve_group(name: &str) -> Result<u32, String> {
    if let Ok(Some(g)) = Group::from_name(name) {
        return Ok(g.gid.as_raw());
    }
    name.parse::<u32>()
        .map_err(|_| format!("No such group {name:?}"))
}

/// Every group `uid` belongs to (primary and supplementary).
pub fn groups_of(uid: u32) -> Vec<u32> {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let Ok(name) = CString::new(user.name) else {
        return vec![user.gid.as_raw()];
    };
    match nix::unistd::getgrouplist(&name, user.gid) {
        Ok(gs) => gs.into_iter().map(Gid::as_raw).collect(),
        Err(_) => vec![user.gid.as_raw()],
    }
}

/// Set a file's permission bits.
pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Change a file's owner and/or group (None leaves it).
pub fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    std::os::unix::fs::chown(path, uid, gid)
}

/// The command name of process `pid` (`/proc/PID/comm`), if it can be read.
pub fn process_name(pid: i32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string())
}
