//! VLAN configuration of the switch (`vlan/*`, `port/setvlan`) with
//! vde_switch 2.3.2's rules and errnos (`port.c`, `vlancreate` …
//! `vlandelport`), and the other console settings kept on the switch
//! (`hash/setsize`). The spanning tree follows membership changes at its
//! next catch-up (`spanning.rs`).
//!
//! Every change that takes a port out of a VLAN forgets the addresses
//! learned on that port in that VLAN, so no unicast is sent where the
//! destination can no longer be reached.

use std::hash::BuildHasher;

use super::{round_hash_size, ConfigError, PortId, Switch, MAX_CREATABLE_VLAN, MAX_VLAN, NO_VLAN};
use crate::fdb::Vlan;

impl<S: BuildHasher + Clone> Switch<S> {
    /// Create VLAN `vlan` (`vlan/create`): 1..=4093 (VLAN 0 always exists).
    pub fn create_vlan(&mut self, vlan: Vlan) -> Result<(), ConfigError> {
        if vlan == 0 || vlan > MAX_CREATABLE_VLAN {
            return Err(ConfigError::Invalid);
        }
        if !self.vlans.insert(vlan) {
            return Err(ConfigError::Exists);
        }
        // The spanning tree gets the VLAN's tree (us as root) when it next
        // catches up.
        self.stp_stale = true;
        Ok(())
    }

    /// Remove VLAN `vlan` (`vlan/remove`): refused while any port, active or
    /// not, is a member (untagged or tagged). Its learned addresses go.
    ///
    /// Unlike vde_switch, VLAN 0 is never removed (`Invalid`): new ports join
    /// it, so it must exist.
    pub fn remove_vlan(&mut self, vlan: Vlan) -> Result<(), ConfigError> {
        if vlan > MAX_VLAN {
            return Err(ConfigError::Invalid);
        }
        if !self.vlans.contains(&vlan) {
            return Err(ConfigError::NoDevice);
        }
        let used = self
            .ports
            .iter()
            .flatten()
            .any(|p| p.untagged_vlan == vlan || p.tagged_vlans.contains(&vlan));
        if used {
            return Err(ConfigError::InUse);
        }
        if vlan == 0 {
            return Err(ConfigError::Invalid);
        }
        self.vlans.remove(&vlan);
        self.fdb.flush_vlan(vlan);
        self.stp_stale = true;
        Ok(())
    }

    /// Make `vlan` the untagged VLAN of `port` (`port/setvlan`). [`NO_VLAN`]
    /// means no untagged traffic. A tagged membership of `vlan` becomes the
    /// untagged one; the addresses learned on the port in its old untagged
    /// VLAN are forgotten.
    pub fn set_port_vlan(&mut self, port: PortId, vlan: Vlan) -> Result<(), ConfigError> {
        if vlan > NO_VLAN {
            return Err(ConfigError::Invalid);
        }
        self.check_port_number(port)?;
        if vlan != NO_VLAN && !self.vlans.contains(&vlan) {
            return Err(ConfigError::NoDevice);
        }
        let p = self.port_mut(port)?;
        let old = p.untagged_vlan;
        p.tagged_vlans.remove(&vlan);
        p.untagged_vlan = vlan;
        self.fdb.flush_port_vlan(port, old);
        Ok(())
    }

    /// The checks `vlan/addport` and `vlan/delport` share, in vde_switch's
    /// order: a VLAN number in range, a port number in range, an existing VLAN.
    fn check_trunk_args(&self, vlan: Vlan, port: PortId) -> Result<(), ConfigError> {
        if vlan >= MAX_VLAN {
            return Err(ConfigError::Invalid);
        }
        self.check_port_number(port)?;
        if !self.vlans.contains(&vlan) {
            return Err(ConfigError::NoDevice);
        }
        Ok(())
    }

    /// Make `port` a tagged member of `vlan` (`vlan/addport`). A no-op when
    /// `vlan` is already the port's untagged VLAN, as in vde_switch.
    pub fn add_tagged(&mut self, vlan: Vlan, port: PortId) -> Result<(), ConfigError> {
        self.check_trunk_args(vlan, port)?;
        let p = self.port_mut(port)?;
        if p.untagged_vlan != vlan {
            p.tagged_vlans.insert(vlan);
        }
        Ok(())
    }

    /// Remove `port`'s tagged membership of `vlan` (`vlan/delport`); `InUse`
    /// when `vlan` is the port's untagged VLAN. Removing a membership the
    /// port does not have succeeds, as in vde_switch. The addresses learned
    /// on the port in `vlan` are forgotten.
    pub fn del_tagged(&mut self, vlan: Vlan, port: PortId) -> Result<(), ConfigError> {
        self.check_trunk_args(vlan, port)?;
        let p = self.port_mut(port)?;
        if p.untagged_vlan == vlan {
            return Err(ConfigError::InUse);
        }
        p.tagged_vlans.remove(&vlan);
        self.fdb.flush_port_vlan(port, vlan);
        Ok(())
    }

    /// True if VLAN `vlan` exists.
    pub fn has_vlan(&self, vlan: Vlan) -> bool {
        self.vlans.contains(&vlan)
    }

    /// Change the hash size (`hash/setsize`): rounded up to a power of two;
    /// the table is emptied, as in vde_switch. 0 is `Invalid`.
    pub fn set_hash_size(&mut self, n: usize) -> Result<(), ConfigError> {
        let size = round_hash_size(n);
        if size == 0 {
            return Err(ConfigError::Invalid);
        }
        self.config.hash_size = size;
        self.fdb.clear();
        Ok(())
    }

    /// `Invalid` unless `port` is below the port count.
    fn check_port_number(&self, port: PortId) -> Result<(), ConfigError> {
        if usize::from(port) < self.ports.len() {
            Ok(())
        } else {
            Err(ConfigError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AttachRequest, Endpoint, PortRequest, SwitchConfig};
    use super::*;
    use crate::mac::MacAddr;
    use crate::time::Instant;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;

    type H = BuildHasherDefault<DefaultHasher>;

    fn switch() -> Switch<H> {
        let mut sw = Switch::new(
            SwitchConfig {
                numports: 8,
                ..SwitchConfig::default()
            },
            H::default(),
        );
        for port in 1..=3 {
            sw.attach(AttachRequest {
                port: PortRequest::Number(port),
                endpoint: Endpoint {
                    id: port,
                    module: "unix",
                    description: String::new(),
                    user: 0,
                },
                groups: vec![],
            })
            .unwrap();
        }
        sw
    }

    fn learn(sw: &mut Switch<H>, port: PortId, n: u8) {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, n]);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.resize(60, 0);
        sw.decide(Instant::ZERO, port, &f, &mut Vec::new());
    }

    #[test]
    fn errnos_are_vde_switchs() {
        let mut sw = switch();
        let errno = |r: Result<(), ConfigError>| r.map_err(ConfigError::errno);
        assert_eq!(errno(sw.create_vlan(0)), Err(22));
        assert_eq!(errno(sw.create_vlan(4094)), Err(22));
        assert_eq!(errno(sw.create_vlan(4093)), Ok(()));
        assert_eq!(errno(sw.create_vlan(4093)), Err(17));
        assert_eq!(errno(sw.remove_vlan(4095)), Err(22));
        assert_eq!(errno(sw.remove_vlan(12)), Err(6));
        assert_eq!(errno(sw.remove_vlan(0)), Err(98), "ports are in VLAN 0");
        assert_eq!(errno(sw.set_port_vlan(8, 0)), Err(22), "port beyond -n");
        assert_eq!(errno(sw.set_port_vlan(5, 0)), Err(6), "port does not exist");
        assert_eq!(
            errno(sw.set_port_vlan(1, 12)),
            Err(6),
            "VLAN does not exist"
        );
        assert_eq!(errno(sw.set_port_vlan(1, 4096)), Err(22));
        assert_eq!(errno(sw.set_port_vlan(1, NO_VLAN)), Ok(()));
        assert_eq!(errno(sw.add_tagged(4094, 1)), Err(22));
        assert_eq!(errno(sw.add_tagged(12, 1)), Err(6));
        assert_eq!(errno(sw.add_tagged(4093, 2)), Ok(()));
        assert_eq!(errno(sw.remove_vlan(4093)), Err(98), "a tagged member");
        sw.set_port_vlan(3, 4093).unwrap();
        assert_eq!(errno(sw.del_tagged(4093, 3)), Err(98), "its untagged VLAN");
        assert_eq!(errno(sw.del_tagged(4093, 2)), Ok(()));
        sw.set_port_vlan(3, 0).unwrap();
        assert_eq!(errno(sw.remove_vlan(4093)), Ok(()));
        assert_eq!(errno(sw.set_hash_size(0)), Err(22));
    }

    #[test]
    fn leaving_a_vlan_forgets_only_its_addresses() {
        let mut sw = switch();
        sw.create_vlan(10).unwrap();
        sw.add_tagged(10, 1).unwrap();
        let tagged = |vid: u16, n: u8| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[2, 0, 0, 0, 0, n]);
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&vid.to_be_bytes());
            f.extend_from_slice(&[0x88, 0xb5]);
            f.resize(64, 0);
            f
        };
        sw.decide(Instant::ZERO, 1, &tagged(10, 1), &mut Vec::new());
        learn(&mut sw, 1, 2);
        learn(&mut sw, 2, 3);
        assert_eq!(sw.fdb().len(), 3);
        sw.del_tagged(10, 1).unwrap();
        let mac = |n| MacAddr([2, 0, 0, 0, 0, n]);
        assert_eq!(sw.fdb().lookup(Instant::ZERO, 10, mac(1)), None);
        assert_eq!(sw.fdb().lookup(Instant::ZERO, 0, mac(2)), Some(1));
        sw.set_port_vlan(2, 10).unwrap();
        assert_eq!(sw.fdb().lookup(Instant::ZERO, 0, mac(3)), None);
        assert_eq!(sw.fdb().len(), 1);
        sw.set_hash_size(100).unwrap();
        assert_eq!(sw.config().hash_size, 128);
        assert!(sw.fdb().is_empty());
    }
}
