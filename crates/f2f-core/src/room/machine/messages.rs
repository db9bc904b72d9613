//! What the [`Room`] does with each kind of room message, once
//! [`Room::handle_message`] has parsed it and checked its sender is an
//! occupant.

use super::Room;
use crate::room::master::identity;
use crate::room::message::{Announce, Ask, Grant, LinkKind, LinkNotice, Message, Peers, MAX_PEERS};
use crate::room::{wiring, Action, Delivery, LogLevel, NodeRole};

impl Room {
    pub(super) fn on_announce(&mut self, from: &str, announce: Announce) {
        if self.authority.is_some() {
            if !self.outranks(from, &self.config.nick) {
                return self.ignore_kind(
                    "announce",
                    from,
                    "we are the master and outrank it (owner first, then lower nick)",
                );
            }
            self.log(
                LogLevel::Warn,
                format!(
                    "{from} also claims master and outranks us (owner first, then lower nick): \
                     we become a member"
                ),
            );
            self.authority = None;
            self.grant = None;
            self.roster.clear();
            self.actions
                .push_back(Action::RoleChanged(NodeRole::Member));
            self.reconcile("we are no longer the master");
        }
        if let Err(why) = self.trusts(from) {
            return self.ignore_kind("announce", from, &why);
        }
        if let Some(current) = self.master.clone().filter(|m| m != from) {
            if !self.outranks(from, &current) {
                let why = format!("we follow {current}, which outranks it");
                return self.ignore_kind("announce", from, &why);
            }
            self.log(
                LogLevel::Warn,
                format!("{from} outranks our master {current}"),
            );
        }
        self.log(
            LogLevel::Info,
            format!("master {from} announced; asking it"),
        );
        self.last_master = Some(from.to_string());
        self.roster.insert(from.to_string(), announce.link);
        self.ask_again(from);
        self.reconcile("no longer wired to it");
    }

    pub(super) fn on_ask(&mut self, from: &str, ask: Ask) {
        let Some(member) = self.occupants.get(from).map(|n| identity(&n.occupant)) else {
            return;
        };
        let Some(authority) = &mut self.authority else {
            return self.ignore_kind("ask", from, "we are not the master");
        };
        if !self.roster.contains_key(from) && self.roster.len() + 1 >= MAX_PEERS {
            let why = format!("the room already has {MAX_PEERS} members");
            return self.ignore_kind("ask", from, &why);
        }
        let (grant, new) = match authority.grant(&member, from, false) {
            Ok(g) => g,
            Err(e) => return self.ignore_kind("ask", from, &e.to_string()),
        };
        if new {
            self.actions
                .push_back(Action::PersistGrants(authority.snapshot()));
        }
        let macs: Vec<String> = grant.macs.iter().map(ToString::to_string).collect();
        self.log(
            LogLevel::Info,
            format!("granted {from} ({member}) MACs {}", macs.join(" ")),
        );
        self.send_private(from, &Message::Grant(grant));
        self.roster.insert(from.to_string(), ask.link);
        self.broadcast_peers();
        self.reconcile("no longer wired to it");
    }

    pub(super) fn on_grant(&mut self, from: &str, delivery: Delivery, grant: Grant) {
        let refusal = if delivery == Delivery::Groupchat {
            Some("it was sent to the whole room (a grant carries the network key)".to_string())
        } else if self.authority.is_some() {
            Some("we are the master".to_string())
        } else if self.master.as_deref() != Some(from) {
            Some(match self.trusts(from) {
                Err(why) => why,
                Ok(()) => "it is not the master we asked".to_string(),
            })
        } else if grant.to != self.config.nick {
            Some(format!(
                "it is addressed to {}, not to us ({})",
                grant.to, self.config.nick
            ))
        } else {
            None
        };
        if let Some(why) = refusal {
            return self.ignore_kind("grant", from, &why);
        }
        if self.grant.as_ref() != Some(&grant) {
            self.log(LogLevel::Info, format!("applying the grant from {from}"));
            self.grant = Some(grant.clone());
            self.actions.push_back(Action::ApplyGrant {
                from: from.to_string(),
                grant,
            });
        }
        self.reconcile("no longer wired to it");
    }

    pub(super) fn on_peers(&mut self, from: &str, peers: Peers) {
        if self.authority.is_some() || self.master.as_deref() != Some(from) {
            return self.ignore_kind("peers", from, "it is not the master we follow");
        }
        self.roster = peers
            .peers
            .into_iter()
            .filter(|p| p.nick != self.config.nick)
            .map(|p| (p.nick, p.link))
            .collect();
        self.reconcile("dropped from the master's peer list");
    }

    pub(super) fn on_link_notice(&mut self, from: &str, notice: LinkNotice) {
        let fallback = self
            .roster
            .get(from)
            .is_some_and(|theirs| wiring::falls_back(&self.config.link, theirs));
        let link = self.links.get_mut(from);
        match link {
            Some(link)
                if notice.transport == LinkKind::Xmpp
                    && fallback
                    && link.transport.kind() == LinkKind::Tcp =>
            {
                let up = link.move_to_xmpp(from);
                self.actions.push_back(up);
                self.log(LogLevel::Info, format!("{from} moved our link to xmpp"));
            }
            _ => self.ignore_kind("link", from, "it does not match a tcp link we may move"),
        }
    }
}
