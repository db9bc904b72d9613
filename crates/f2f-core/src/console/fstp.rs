//! `fstp/*` while spanning tree is not running: the answers vde_switch 2.3.2
//! gives with FSTP off (`fstp.c`; spec/fstp.md §1, §5).
//!
//! Every VLAN's tree has this switch as its root: `fstp/print` shows the
//! root id (priority 0x8000 and the switch MAC), no designated bridge,
//! `age` = uptime, the bonus set by `fstp/bonus`, and the active ports,
//! untagged members first, then tagged ones, each `Designated` (or `Edge`
//! after `fstp/setedge`). vde_switch prints `Unknown` for tagged ports (its
//! role check tests the untagged set twice); we print their role.
//!
//! `fstp/setfstp 1` does not pretend: it answers "not supported yet" with
//! `EOPNOTSUPP` (in hub mode it answers as vde_switch does). Spanning tree
//! itself lands with the `stp` module, which replaces this one.

use std::fmt::Write as _;
use std::hash::BuildHasher;

use super::{errno, int_arg, three_args, to_port, to_vlan, ConsoleHost, Reply, Status};
use crate::fdb::Vlan;
use crate::switch::{PortId, Switch, MAX_VLAN};

/// vde_switch's default bridge priority (`--priority`).
const PRIORITY: u16 = 0x8000;
/// vde_switch's cost of every port ("1Mbit line", `switch.h` DEFAULT_COST).
const PORT_COST: u32 = 20_000_000;
/// The data line of `fstp/setfstp 1`.
pub const NOT_SUPPORTED: &str =
    "fast spanning tree is not supported yet: the switch keeps forwarding without it";

/// `fstp/showinfo`.
pub(super) fn showinfo<S: BuildHasher + Clone>(sw: &Switch<S>) -> Reply {
    Reply::data(
        format!(
            "MAC {} Priority {PRIORITY} (0x{PRIORITY:x})\nFSTP=false\n",
            sw.config().mac
        ),
        Status::Success,
    )
}

/// `fstp/setfstp 0/1`.
pub(super) fn setfstp<S: BuildHasher + Clone>(sw: &Switch<S>, arg: &str) -> Reply {
    match int_arg(arg) {
        Err(e) => Reply::data(String::new(), Status::Errno(e)),
        Ok(_) if sw.config().hub => {
            Reply::data("Can't use fstp in hub mode\n".to_string(), Status::Success)
        }
        Ok(0) => Reply::data(String::new(), Status::Success),
        Ok(_) => Reply::data(
            format!("{NOT_SUPPORTED}\n"),
            Status::Errno(errno::EOPNOTSUPP),
        ),
    }
}

/// Checks `VLAN PORT` as `fstsetedge`/`fstsetbonus` do: `EINVAL` out of
/// range, `ENXIO` for a VLAN that does not exist (the port need not exist).
fn vlan_port<S: BuildHasher + Clone>(
    sw: &Switch<S>,
    v: i64,
    p: i64,
) -> Result<(Vlan, PortId), u16> {
    let vlan = to_vlan(v)
        .ok()
        .filter(|v| *v <= MAX_VLAN)
        .ok_or(errno::EINVAL)?;
    let port = to_port(p)?;
    if usize::from(port) >= sw.config().numports {
        return Err(errno::EINVAL);
    }
    if !sw.has_vlan(vlan) {
        return Err(errno::ENXIO);
    }
    Ok((vlan, port))
}

/// `fstp/setedge VLAN PORT 1/0`.
pub(super) fn setedge<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(three_args(arg).and_then(|(v, p, on)| {
        let key = vlan_port(sw, v, p)?;
        let edge = &mut sw.fstp_settings_mut().edge;
        if on != 0 {
            edge.insert(key);
        } else {
            edge.remove(&key);
        }
        Ok(())
    }))
}

/// `fstp/bonus VLAN PORT COST`.
pub(super) fn bonus<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(three_args(arg).and_then(|(v, p, cost)| {
        let (vlan, port) = vlan_port(sw, v, p)?;
        // C's int: what does not fit wraps, as in vde_switch.
        let cost = cost as i32;
        sw.fstp_settings_mut().bonus.insert(vlan, (port, cost));
        Ok(())
    }))
}

/// `fstp/print [N]`.
pub(super) fn print<S: BuildHasher + Clone>(
    sw: &Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    let mut out = String::new();
    let age = host.uptime_secs();
    if arg.trim().is_empty() {
        for v in sw.vlans() {
            write_tree(&mut out, sw, v, age);
        }
        return Reply::data(out, Status::Success);
    }
    let vlan = match int_arg(arg) {
        Ok(n) if (0..i64::from(MAX_VLAN)).contains(&n) => to_vlan(n),
        _ => Err(errno::EINVAL),
    };
    match vlan {
        Ok(v) if sw.has_vlan(v) => {
            write_tree(&mut out, sw, v, age);
            Reply::data(out, Status::Success)
        }
        Ok(_) => Reply::data(out, Status::Errno(errno::ENXIO)),
        Err(e) => Reply::data(out, Status::Errno(e)),
    }
}

fn write_tree<S: BuildHasher + Clone>(out: &mut String, sw: &Switch<S>, vlan: Vlan, age: u64) {
    let m = sw.config().mac.octets();
    let [p0, p1] = PRIORITY.to_be_bytes();
    let settings = sw.fstp_settings();
    let (bonus_port, bonus_cost) = settings.bonus.get(&vlan).copied().unwrap_or((0, 0));
    let _ = writeln!(out, "FST DATA VLAN {vlan:04} ROOTSWITCH FSTP IS DISABLED");
    let _ = writeln!(
        out,
        " ++ root {p0:02x}:{p1:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    );
    let _ = writeln!(out, " ++ designated ff:ff:ff:ff:ff:ff:ff:ff");
    let _ = writeln!(
        out,
        " ++ rootport 0000 cost 0 age {age} bonusport {bonus_port:04} bonuscost {bonus_cost}"
    );
    for tagged in [false, true] {
        for (id, port) in sw.ports().filter(|(_, p)| p.is_active()) {
            let member = if tagged {
                port.untagged_vlan != vlan && port.tagged_vlans.contains(&vlan)
            } else {
                port.untagged_vlan == vlan
            };
            if !member {
                continue;
            }
            let role = if settings.edge.contains(&(vlan, id)) {
                "Edge"
            } else {
                "Designated"
            };
            let _ = writeln!(
                out,
                " -- Port {id:04} tagged={} portcost={PORT_COST} role={role}",
                u8::from(tagged)
            );
        }
    }
}
