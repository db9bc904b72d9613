//! The master's authority: the room's parameters and the grant table.
//!
//! Held by a [`Room`](super::Room) while it is the master; dropped when it
//! loses to another master (the stored grants stay in the state directory).

use super::message::{Grant, MAX_MACS};
use super::pool::{GrantSnapshot, MacPool, PoolError};
use super::{MasterParams, Occupant};

/// The room's parameters and who holds which MACs.
#[derive(Debug)]
pub(super) struct Authority {
    params: MasterParams,
    pool: MacPool,
}

impl Authority {
    /// The authority for `params`, its pool restored from `params.grants`
    /// when given.
    pub(super) fn new(mut params: MasterParams) -> Result<Authority, PoolError> {
        let pool = match params.grants.take() {
            Some(snapshot) => MacPool::restore(&snapshot)?,
            None => MacPool::new(params.seed),
        };
        let most = u8::try_from(MAX_MACS).unwrap_or(u8::MAX);
        params.macs_per_member = params.macs_per_member.clamp(1, most);
        Ok(Authority { params, pool })
    }

    /// The grant for the occupant `to` known by `member` (its identity): the
    /// MACs it held before, or new ones. The flag is true when the grant
    /// table changed (persist it).
    pub(super) fn grant(
        &mut self,
        member: &str,
        to: &str,
        dhcp: bool,
    ) -> Result<(Grant, bool), PoolError> {
        let (macs, new) = self.pool.grant(member, self.params.macs_per_member)?;
        let grant = Grant {
            to: to.to_string(),
            macs,
            subnet: self.params.subnet,
            key: self.params.key.clone(),
            topology: self.params.topology,
            dhcp,
            image: self.params.image.clone(),
        };
        Ok((grant, new))
    }

    /// The room's wiring.
    pub(super) fn topology(&self) -> super::Topology {
        self.params.topology
    }

    /// The MACs `member` holds, if any.
    pub(super) fn macs_of(&self, member: &str) -> Option<&[crate::mac::MacAddr]> {
        self.pool.get(member)
    }

    /// The grant table as the shell stores it.
    pub(super) fn snapshot(&self) -> GrantSnapshot {
        self.pool.snapshot()
    }
}

/// The identity grants are keyed by: the occupant's real bare JID when the
/// room shows it (lowercased), else `nick:NICK`.
pub(super) fn identity(occupant: &Occupant) -> String {
    match &occupant.jid {
        Some(jid) => bare_jid(jid),
        None => format!("nick:{}", occupant.nick),
    }
}

/// `user@host/resource` → `user@host`, lowercased (JID local parts and
/// domains compare without case, RFC 7622 §3.2, §3.3).
pub(super) fn bare_jid(jid: &str) -> String {
    let bare = jid.split_once('/').map_or(jid, |(bare, _)| bare);
    bare.to_lowercase()
}
