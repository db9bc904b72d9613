//! `debug/*` and `plugin/*`, answered as vde_switch 2.3.2 answers them
//! (`consmgmt.c`), and the debug lines themselves.
//!
//! Debug output is per console session: `debug/add PREFIX` subscribes the
//! session to every category whose path starts with `PREFIX` (empty: all),
//! `debug/del PREFIX` unsubscribes it, `debug/list [PREFIX]` shows `ON` for
//! the session's own subscriptions. Replies, as vde_switch's: `EINVAL` when
//! no category matches, `debug/add` `EEXIST` when the session already had
//! them all, `debug/del` `ENOENT` when it had none of them, `debug/list`
//! `ENOENT` when none matches. The session's subscriptions come in through
//! [`ConsoleHost::debug_mask`] and go back as [`Action::Debug`]; the events
//! are [`DebugEvent`]s, printed by [`render_debug`] as `3TTT path text`.
//!
//! Plugins are C libraries built against vde_switch's internal symbols
//! (`addcl`, `eventadd`, `printoutc`, its port and packet structures), which
//! cannot be loaded into another program. `plugin/list` is empty (`ENOENT`,
//! as vde_switch with none loaded), `plugin/del` is `ENOENT`, `plugin/add`
//! of no name is `EINVAL`; `plugin/add` of one of Debian's plugins (`dump`,
//! `pdump`, `iplog`) says what to use instead and answers `EOPNOTSUPP`; any
//! other name is `ENOENT`, as vde_switch answers for a library it cannot find.

use std::fmt::Write as _;

use super::{errno, Action, ConsoleHost, Reply, Status};
use crate::stp::PortState;
use crate::switch::{Category, DebugEvent};

/// The categories `prefix` selects, as a mask.
fn matching(prefix: &str) -> u16 {
    Category::ALL
        .iter()
        .filter(|c| c.path().starts_with(prefix))
        .fold(0, |m, c| m | c.bit())
}

/// `debug/list [PREFIX]`.
pub(super) fn list(host: &dyn ConsoleHost, arg: &str) -> Reply {
    let mut out = format!(
        "{:<22} {:<3} {:<6} {}\n{:<22} {:<3} {:<6} {}\n",
        "CATEGORY", "TAG", "STATUS", "HELP", "------------", "---", "------", "----"
    );
    let mine = host.debug_mask();
    let mut found = false;
    for c in Category::ALL.iter().filter(|c| c.path().starts_with(arg)) {
        found = true;
        let on = if mine & c.bit() != 0 { "ON" } else { "OFF" };
        let _ = writeln!(out, "{:<22} {:03o} {on:<6} {}", c.path(), c.tag(), c.help());
    }
    let status = if found {
        Status::Success
    } else {
        Status::Errno(errno::ENOENT)
    };
    Reply::data(out, status)
}

/// A reply that changes the session's subscriptions to `mask`.
fn subscribe(mask: u16) -> Reply {
    Reply {
        data: None,
        status: Some(Status::Success),
        action: Action::Debug { mask },
    }
}

/// `debug/add PREFIX`.
pub(super) fn add(host: &dyn ConsoleHost, arg: &str) -> Reply {
    let wanted = matching(arg);
    let mine = host.debug_mask();
    if wanted == 0 {
        Reply::status(Status::Errno(errno::EINVAL))
    } else if mine & wanted == wanted {
        Reply::status(Status::Errno(errno::EEXIST))
    } else {
        subscribe(mine | wanted)
    }
}

/// `debug/del PREFIX`.
pub(super) fn del(host: &dyn ConsoleHost, arg: &str) -> Reply {
    let wanted = matching(arg);
    let mine = host.debug_mask();
    if wanted == 0 {
        Reply::status(Status::Errno(errno::EINVAL))
    } else if mine & wanted == 0 {
        Reply::status(Status::Errno(errno::ENOENT))
    } else {
        subscribe(mine & !wanted)
    }
}

/// vde_switch's word for a spanning-tree state in `fstp/status` (a
/// forwarding port also learns).
fn state_name(state: PortState) -> &'static str {
    match state {
        PortState::Discarding => "discarding",
        PortState::Learning => "learning",
        PortState::Forwarding => "learning+forwarding",
    }
}

/// The line vde_switch writes to subscribed consoles for `event`:
/// `3TTT path text\n` (`consmgmt.c` `debugout`, texts from `port.c`,
/// `hash.c`, `fstp.c`). Descriptions are escaped ([`super::escape_control`]).
pub fn render_debug(event: &DebugEvent) -> String {
    let c = event.category();
    let mut out = format!("3{:03o} {} ", c.tag(), c.path());
    let vlan2 = |v: u16| format!("{:02x}:{:02x}", v >> 8, v & 0xff);
    let _ = match event {
        DebugEvent::Hash {
            mac, vlan, port, ..
        } => write!(out, "{mac} VLAN {} Port {port}", vlan2(*vlan)),
        DebugEvent::Port { port, .. } => write!(out, "{port:02}"),
        DebugEvent::Endpoint { port, id, .. } => write!(out, "Port {port:02} FD {id:2}"),
        DebugEvent::Description { port, id, text } => write!(
            out,
            "Port {port:02} FD {id:2} -> \"{}\"",
            super::escape_control(text)
        ),
        DebugEvent::Neighbour { port, vlan, .. } => {
            write!(out, "Port {port:04} VLAN {}", vlan2(*vlan))
        }
        DebugEvent::State { port, vlan, state } => write!(
            out,
            "Port {port:04} VLAN {} {}",
            vlan2(*vlan),
            state_name(*state)
        ),
        DebugEvent::Root { port, vlan, root } => {
            write!(out, "Port {port:04} VLAN {} -> {root}", vlan2(*vlan))
        }
    };
    out.push('\n');
    out
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

/// What to use instead of each plugin Debian's vde2 ships.
const PLUGINS: &[(&str, &str)] = &[
    (
        "dump",
        "dump prints packets as hex: use port/capture N (f2f-overlay capture -s DIR PORT - | tcpdump -r - -xx)",
    ),
    (
        "pdump",
        "pdump writes a pcap file: use port/capture N (f2f-overlay capture -s DIR PORT FILE)",
    ),
    (
        "iplog",
        "iplog logs the IP addresses seen per port: use f2f-overlay capture -s DIR PORT - | tcpdump -r - -n arp or ip",
    ),
];

/// `plugin/add LIBRARY`: `LIBRARY` as vde_switch takes it (a path, or a
/// name with or without `.so`).
pub(super) fn plugin_add(arg: &str) -> Reply {
    let name = arg.rsplit('/').next().unwrap_or(arg);
    let name = name.strip_suffix(".so").unwrap_or(name);
    if arg.is_empty() {
        return Reply::status(Status::Errno(errno::EINVAL));
    }
    match PLUGINS.iter().find(|(n, _)| *n == name) {
        Some((_, instead)) => Reply::data(
            format!(
                "vde_switch plugins are C libraries for vde_switch's own internals and cannot be loaded here\n{instead}\n"
            ),
            Status::Errno(errno::EOPNOTSUPP),
        ),
        None => Reply::status(Status::Errno(errno::ENOENT)),
    }
}

/// `plugin/del NAME`.
pub(super) fn plugin_del(_arg: &str) -> Reply {
    Reply::status(Status::Errno(errno::ENOENT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bpdu::BridgeId;

    #[test]
    fn lines_match_vde_switch() {
        let mac = "02:00:00:00:00:11".parse().unwrap();
        let root = BridgeId {
            priority: 0x8000,
            mac: "00:ff:19:2e:75:4b".parse().unwrap(),
        };
        let cases = [
            (
                DebugEvent::Hash {
                    added: true,
                    mac,
                    vlan: 0,
                    port: 1,
                },
                "3011 hash/+ 02:00:00:00:00:11 VLAN 00:00 Port 1\n",
            ),
            (
                DebugEvent::Hash {
                    added: false,
                    mac,
                    vlan: 300,
                    port: 12,
                },
                "3012 hash/- 02:00:00:00:00:11 VLAN 01:2c Port 12\n",
            ),
            (
                DebugEvent::Port {
                    added: true,
                    port: 1,
                },
                "3021 port/+ 01\n",
            ),
            (
                DebugEvent::Port {
                    added: false,
                    port: 1,
                },
                "3022 port/- 01\n",
            ),
            (
                DebugEvent::Endpoint {
                    added: true,
                    port: 1,
                    id: 6,
                },
                "3031 port/ep/+ Port 01 FD  6\n",
            ),
            (
                DebugEvent::Endpoint {
                    added: false,
                    port: 1,
                    id: 16,
                },
                "3032 port/ep/- Port 01 FD 16\n",
            ),
            (
                DebugEvent::Description {
                    port: 1,
                    id: 6,
                    text: "vdeplug: user=root pid=29542\n".into(),
                },
                "3023 port/descr Port 01 FD  6 -> \"vdeplug: user=root pid=29542\\n\"\n",
            ),
            (
                DebugEvent::Neighbour {
                    up: true,
                    port: 1,
                    vlan: 0,
                },
                "3041 fstp/+ Port 0001 VLAN 00:00\n",
            ),
            (
                DebugEvent::Neighbour {
                    up: false,
                    port: 2,
                    vlan: 0,
                },
                "3042 fstp/- Port 0002 VLAN 00:00\n",
            ),
            (
                DebugEvent::State {
                    port: 2,
                    vlan: 0,
                    state: PortState::Discarding,
                },
                "3044 fstp/status Port 0002 VLAN 00:00 discarding\n",
            ),
            (
                DebugEvent::State {
                    port: 1,
                    vlan: 0,
                    state: PortState::Forwarding,
                },
                "3044 fstp/status Port 0001 VLAN 00:00 learning+forwarding\n",
            ),
            (
                DebugEvent::Root {
                    port: 1,
                    vlan: 0,
                    root,
                },
                "3045 fstp/root Port 0001 VLAN 00:00 -> 80:00:00:ff:19:2e:75:4b\n",
            ),
        ];
        for (event, line) in cases {
            assert_eq!(render_debug(&event), line);
        }
    }
}
