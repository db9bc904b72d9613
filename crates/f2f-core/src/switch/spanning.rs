//! The spanning tree inside the switch: keeping [`Stp`] informed of ports
//! and VLANs, handing it BPDUs, applying what it decides.
//!
//! What it owns: the glue only. Port membership stays the switch's (ports,
//! `untagged_vlan`, `tagged_vlans`, the VLAN set); the spanning tree's view
//! of it is derived by `sync_stp`, which runs before anything that takes a
//! `now` once a change was made (attach, detach, `port_mut`, port creation
//! and removal, hub mode). So whoever edits membership, the tree catches up
//! at the next frame or timer, and [`Switch::poll_timeout`] says "now" until
//! it has.
//!
//! Invariants: while FSTP is on, a frame to 01:80:c2:00:00:00 is consumed
//! (or dropped as [`DropReason::BadBpdu`]), never forwarded; with FSTP off or
//! in hub mode it is an ordinary multicast. Every
//! [`crate::stp::StpEvent::FlushVlan`] empties that VLAN's MAC table before
//! the call that produced it returns. Hub mode and FSTP are never on
//! together.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use super::{DebugEvent, DropReason, Forward, PortId, Switch, Vlan};
use crate::stp::{Stp, StpError, StpEvent};
use crate::time::Instant;
use crate::wire::bpdu::{Bpdu, TAGGED_LEN};

/// One BPDU frame to write on a port, exactly as it goes on the wire
/// (tagged when the port carries the VLAN tagged). No allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpduOut {
    /// The switch port.
    pub port: PortId,
    len: usize,
    bytes: [u8; TAGGED_LEN],
}

impl BpduOut {
    /// The frame's bytes (53, or 57 when tagged).
    pub fn frame(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

/// `fstp/setfstp` while the switch is a hub: vde_switch refuses with this
/// message (and still answers `1000 Success`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Can't use fstp in hub mode")]
pub struct HubModeError;

impl<S: BuildHasher + Clone> Switch<S> {
    /// The spanning tree, for `fstp/print`, `fstp/showinfo` and `status`.
    pub fn stp(&self) -> &Stp {
        &self.stp
    }

    /// `fstp/setfstp`: turn FSTP on or off. Refused in hub mode when it
    /// would change anything. Either way every tree restarts with us as
    /// root, so the learned addresses of every VLAN are forgotten.
    pub fn set_fstp(&mut self, now: Instant, on: bool) -> Result<(), HubModeError> {
        if on == self.stp.enabled() {
            return Ok(());
        }
        if self.config.hub {
            return Err(HubModeError);
        }
        self.sync_stp(now);
        self.stp.set_enabled(now, on);
        let vlans: Vec<Vlan> = self.stp.vlans().collect();
        for vlan in vlans {
            self.fdb.flush_vlan(vlan);
        }
        self.apply_stp_events();
        Ok(())
    }

    /// `fstp/setedge VLAN PORT 1/0` ([`Stp::set_edge`]).
    pub fn set_stp_edge(
        &mut self,
        now: Instant,
        vlan: Vlan,
        port: PortId,
        edge: bool,
    ) -> Result<(), StpError> {
        self.sync_stp(now);
        let r = self.stp.set_edge(now, vlan, port, edge);
        self.apply_stp_events();
        r
    }

    /// `fstp/bonus VLAN PORT COST` ([`Stp::set_bonus`]).
    pub fn set_stp_bonus(
        &mut self,
        now: Instant,
        vlan: Vlan,
        port: PortId,
        cost: i32,
    ) -> Result<(), StpError> {
        self.sync_stp(now);
        let r = self.stp.set_bonus(now, vlan, port, cost);
        self.apply_stp_events();
        r
    }

    /// Bring the spanning tree up to date with ports and VLANs now (the
    /// console does this before showing it).
    pub fn refresh_stp(&mut self, now: Instant) {
        if self.stp_stale {
            self.sync_stp(now);
        }
    }

    /// `port` can now receive frames (the shell has its socket in place):
    /// send it our BPDU, as vde_switch does when a port joins. Without FSTP,
    /// nothing.
    pub fn announce_port(&mut self, now: Instant, port: PortId) {
        if self.stp_stale {
            self.sync_stp(now);
        }
        self.stp.announce(now, port);
    }

    /// The next BPDU to write. Drain it after every call that takes a `now`
    /// (a decision, a timeout, a command): the shell writes each frame to
    /// every endpoint of its port as is, without gating. Counted in the
    /// port's output counters.
    pub fn poll_transmit(&mut self) -> Option<BpduOut> {
        while let Some(tx) = self.stp.poll_transmit() {
            let Some(Some(port)) = self.ports.get_mut(usize::from(tx.port)) else {
                continue;
            };
            if !port.is_active() {
                continue;
            }
            let mut bytes = [0u8; TAGGED_LEN];
            let len = tx.bpdu.buffer_len();
            // TAGGED_LEN is the longest BPDU, so emit cannot fail.
            if tx.bpdu.emit(&mut bytes).is_err() {
                continue;
            }
            port.counters.out_frames += 1;
            port.counters.out_bytes += len as u64;
            return Some(BpduOut {
                port: tx.port,
                len,
                bytes,
            });
        }
        None
    }

    /// Bring the spanning tree's view of ports and VLANs up to date: trees
    /// for the VLANs that exist, every active port registered in its
    /// untagged VLAN and each tagged one, nothing else; FSTP off in hub
    /// mode.
    pub(super) fn sync_stp(&mut self, now: Instant) {
        self.stp_stale = false;
        if self.config.hub && self.stp.enabled() {
            self.stp.set_enabled(now, false);
        }
        for &vlan in &self.vlans {
            // VLANs beyond the tree range (none today) simply get no tree.
            let _ = self.stp.add_vlan(vlan);
        }
        let mut want: BTreeSet<(Vlan, PortId, bool)> = BTreeSet::new();
        for (id, p) in self.ports() {
            if !p.is_active() {
                continue;
            }
            if self.vlans.contains(&p.untagged_vlan) {
                want.insert((p.untagged_vlan, id, false));
            }
            for &t in &p.tagged_vlans {
                if t != p.untagged_vlan && self.vlans.contains(&t) {
                    want.insert((t, id, true));
                }
            }
        }
        let have: BTreeSet<(Vlan, PortId, bool)> = self
            .stp
            .vlans()
            .flat_map(|v| self.stp.members(v).map(move |(p, t)| (v, p, t)))
            .collect();
        for &(vlan, port, _) in have.difference(&want) {
            self.stp.handle_port_leave(now, vlan, port);
        }
        for &(vlan, port, tagged) in want.difference(&have) {
            // Only VLANs out of the tree range fail; they get no tree.
            let _ = self.stp.handle_port_up(now, vlan, port, tagged);
        }
        let gone: Vec<Vlan> = self
            .stp
            .vlans()
            .filter(|v| !self.vlans.contains(v))
            .collect();
        for vlan in gone {
            let _ = self.stp.remove_vlan(vlan);
        }
        self.apply_stp_events();
    }

    /// Act on what the spanning tree decided: flush the MAC table of a VLAN
    /// whose topology changed; the rest are debug events (`fstp/*`). (Role
    /// and root changes are also visible through [`Switch::stp`].)
    pub(super) fn apply_stp_events(&mut self) {
        while let Some(event) = self.stp.poll_event() {
            if let StpEvent::FlushVlan { vlan } = event {
                self.fdb.flush_vlan(vlan);
            } else if let Some(e) = DebugEvent::from_stp(event) {
                self.debug.push(e);
            }
        }
    }

    /// A frame to the spanning-tree address while FSTP is on, attributed to
    /// `vlan` (its tag, else the port's untagged VLAN).
    pub(super) fn take_bpdu(
        &mut self,
        now: Instant,
        vlan: Vlan,
        ingress: PortId,
        frame: &[u8],
    ) -> Forward {
        match Bpdu::parse(frame) {
            Ok(bpdu) => {
                self.stp.handle_bpdu(now, vlan, ingress, &bpdu);
                Forward::Consumed
            }
            Err(_) => Forward::Drop(DropReason::BadBpdu),
        }
    }
}

#[cfg(test)]
mod tests;
