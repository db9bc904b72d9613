//! `debug/*` and `plugin/*`, answered as vde_switch 2.3.2 answers them with no
//! plugin loaded (`consmgmt.c`).
//!
//! `debug/list [PREFIX]` lists vde_switch's categories, all `OFF`, and
//! `ENOENT` when none matches. We send no debug output yet, so `debug/add`
//! of a known category answers `EOPNOTSUPP` ("Operation not supported")
//! instead of pretending; an unknown one is `EINVAL` as in vde_switch, and
//! `debug/del` of a known one is `ENOENT` (it was never on), as in
//! vde_switch. Plugins are C libraries for vde_switch's own ABI, which we
//! cannot load: `plugin/list` is empty (`ENOENT`), `plugin/add LIB` is
//! `ENOENT` (as vde_switch answers for a library it cannot find; no name is
//! `EINVAL`), `plugin/del` is `ENOENT`.

use std::fmt::Write as _;

use super::{errno, Reply, Status};

/// vde_switch's debug categories: path, octal tag, help (`debug/list`).
pub const CATEGORIES: &[(&str, u16, &str)] = &[
    ("hash/+", 0o11, "hash: new element"),
    ("hash/-", 0o12, "hash: discarded element"),
    ("fstp/status", 0o44, "fstp: status change"),
    ("fstp/root", 0o45, "fstp: rootswitch/port change"),
    ("fstp/+", 0o41, "fstp: port becomes active"),
    ("fstp/-", 0o42, "fstp: port becomes inactive"),
    ("port/+", 0o21, "new port"),
    ("port/-", 0o22, "closed port"),
    ("port/descr", 0o23, "set port description"),
    ("port/ep/+", 0o31, "new endpoint"),
    ("port/ep/-", 0o32, "closed endpoint"),
];

fn matching(prefix: &str) -> impl Iterator<Item = &'static (&'static str, u16, &'static str)> + '_ {
    CATEGORIES
        .iter()
        .filter(move |(path, _, _)| path.starts_with(prefix))
}

/// `debug/list [PREFIX]`.
pub(super) fn list(arg: &str) -> Reply {
    let mut out = format!(
        "{:<22} {:<3} {:<6} {}\n{:<22} {:<3} {:<6} {}\n",
        "CATEGORY", "TAG", "STATUS", "HELP", "------------", "---", "------", "----"
    );
    let mut found = false;
    for (path, tag, help) in matching(arg) {
        found = true;
        let _ = writeln!(out, "{path:<22} {tag:03o} {:<6} {help}", "OFF");
    }
    let status = if found {
        Status::Success
    } else {
        Status::Errno(errno::ENOENT)
    };
    Reply::data(out, status)
}

/// `debug/add CATEGORY`.
pub(super) fn add(arg: &str) -> Reply {
    if matching(arg).next().is_none() {
        return Reply::status(Status::Errno(errno::EINVAL));
    }
    Reply::status(Status::Errno(errno::EOPNOTSUPP))
}

/// `debug/del CATEGORY`.
pub(super) fn del(arg: &str) -> Reply {
    if matching(arg).next().is_none() {
        return Reply::status(Status::Errno(errno::EINVAL));
    }
    Reply::status(Status::Errno(errno::ENOENT))
}

/// `plugin/list [PREFIX]`.
pub(super) fn plugin_list(_arg: &str) -> Reply {
    Reply::data(
        format!(
            "{:<22} {}\n{:<22} {}\n",
            "NAME", "HELP", "------------", "----"
        ),
        Status::Errno(errno::ENOENT),
    )
}

/// `plugin/add LIBRARY`.
pub(super) fn plugin_add(arg: &str) -> Reply {
    Reply::status(Status::Errno(if arg.is_empty() {
        errno::EINVAL
    } else {
        errno::ENOENT
    }))
}

/// `plugin/del NAME`.
pub(super) fn plugin_del(_arg: &str) -> Reply {
    Reply::status(Status::Errno(errno::ENOENT))
}
