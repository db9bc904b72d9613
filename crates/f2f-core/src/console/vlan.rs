//! `vlan/*` and `port/setvlan`: VLAN membership as vde_switch 2.3.2 manages
//! it (`port.c`, `vlancreate` … `vlanprintall`).
//!
//! VLAN 0 is the default untagged VLAN and always exists; others are created
//! in 1..=4093. A port is an untagged member of one VLAN (or of none:
//! `port/setvlan N 4095`) and a tagged member of any number. Printing lists
//! each VLAN then its member ports in port order, `tagged=1` for tagged
//! membership; `print` shows active ports only, `allprint` all. A port's
//! status is `Forwarding` while active, `Learning` while not (spanning tree,
//! when it lands, adds `Discarding`).
//!
//! Errnos follow vde_switch: out-of-range numbers `EINVAL`, a missing VLAN
//! or port `ENXIO`, a VLAN still used or a port's own untagged VLAN
//! `EADDRINUSE`. Deliberate differences: `vlan/remove 0` is refused (VLAN 0
//! must exist for new ports), and `vlan/print x` is `EINVAL` where
//! vde_switch's `atoi` prints VLAN 0.

use std::fmt::Write as _;
use std::hash::BuildHasher;

use super::{errno, int_arg, to_port, to_vlan, two_args, Reply, Status};
use crate::fdb::Vlan;
use crate::switch::{Switch, MAX_VLAN};

/// `vlan/create N`.
pub(super) fn create<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(
        int_arg(arg)
            .and_then(to_vlan)
            .and_then(|v| sw.create_vlan(v).map_err(|e| e.errno())),
    )
}

/// `vlan/remove N`.
pub(super) fn remove<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(
        int_arg(arg)
            .and_then(to_vlan)
            .and_then(|v| sw.remove_vlan(v).map_err(|e| e.errno())),
    )
}

/// `vlan/addport N PORT` (VLAN first, as in vde_switch).
pub(super) fn addport<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(two_args(arg).and_then(|(v, p)| {
        let (v, p) = (to_vlan(v)?, to_port(p)?);
        sw.add_tagged(v, p).map_err(|e| e.errno())
    }))
}

/// `vlan/delport N PORT`.
pub(super) fn delport<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(two_args(arg).and_then(|(v, p)| {
        let (v, p) = (to_vlan(v)?, to_port(p)?);
        sw.del_tagged(v, p).map_err(|e| e.errno())
    }))
}

/// `port/setvlan N VLAN` (port first).
pub(super) fn port_setvlan<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(two_args(arg).and_then(|(p, v)| {
        let (p, v) = (to_port(p)?, to_vlan(v)?);
        sw.set_port_vlan(p, v).map_err(|e| e.errno())
    }))
}

/// `vlan/print [N]` (`all == false`) and `vlan/allprint [N]`.
pub(super) fn print<S: BuildHasher + Clone>(sw: &Switch<S>, arg: &str, all: bool) -> Reply {
    let mut out = String::new();
    if arg.trim().is_empty() {
        for v in sw.vlans() {
            write_vlan(&mut out, sw, v, all);
        }
        return Reply::data(out, Status::Success);
    }
    // vde_switch: print accepts 0 <= N < 4094, allprint 0 < N < 4094.
    let lowest = if all { 1 } else { 0 };
    let vlan = match int_arg(arg) {
        Ok(n) if (lowest..i64::from(MAX_VLAN)).contains(&n) => to_vlan(n),
        _ => Err(errno::EINVAL),
    };
    match vlan {
        Ok(v) if sw.has_vlan(v) => {
            write_vlan(&mut out, sw, v, all);
            Reply::data(out, Status::Success)
        }
        Ok(_) => Reply::data(out, Status::Errno(errno::ENXIO)),
        Err(e) => Reply::data(out, Status::Errno(e)),
    }
}

fn write_vlan<S: BuildHasher + Clone>(out: &mut String, sw: &Switch<S>, vlan: Vlan, all: bool) {
    let _ = writeln!(out, "VLAN {vlan:04}");
    for (id, port) in sw.ports() {
        let tagged = port.untagged_vlan != vlan;
        if tagged && !port.tagged_vlans.contains(&vlan) {
            continue;
        }
        let active = port.is_active();
        if !active && !all {
            continue;
        }
        let status = if active { "Forwarding" } else { "Learning" };
        let _ = writeln!(
            out,
            " -- Port {id:04} tagged={} active={} status={status}",
            u8::from(tagged),
            u8::from(active)
        );
    }
}
