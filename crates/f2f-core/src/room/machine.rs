//! The [`Room`] machine: one node's view of the room and what it does about it.

use std::collections::VecDeque;

use super::pool::PoolError;
use super::{Action, Delivery, LinkEvent, NodeRole, Presence, RoomConfig};
use crate::status::RoomStatus;
use crate::time::Instant;

/// One node in a room: master or member (see the [module docs](super)).
#[derive(Debug)]
pub struct Room {
    config: RoomConfig,
    actions: VecDeque<Action>,
}

impl Room {
    /// A node that has not joined yet. With `config.master` it starts as the
    /// master; a grants snapshot that cannot be restored is refused.
    pub fn new(config: RoomConfig, now: Instant) -> Result<Room, PoolError> {
        let _ = now;
        Ok(Room {
            config,
            actions: VecDeque::new(),
        })
    }

    /// A presence change in the room (ours included: our nick's
    /// [`Presence::Available`] means we have joined).
    pub fn handle_presence(&mut self, now: Instant, presence: Presence) {
        let _ = (now, presence);
    }

    /// A message body from occupant `from` (its nick), to the room or to us.
    /// Our own groupchat echo is ignored.
    pub fn handle_message(&mut self, now: Instant, from: &str, delivery: Delivery, body: &str) {
        let _ = (now, from, delivery, body);
    }

    /// The fate of the link to `peer` asked for with [`Action::LinkUp`].
    pub fn handle_link(&mut self, now: Instant, peer: &str, event: LinkEvent) {
        let _ = (now, peer, event);
    }

    /// When [`Room::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Time has reached `now`: heartbeats, dead peers, link retries. Early or
    /// repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// We are leaving the room cleanly: sends `leave` and takes every link down.
    pub fn leave(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next thing for the shell to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Our current role.
    pub fn role(&self) -> NodeRole {
        NodeRole::Member
    }

    /// The room section of `status`.
    pub fn status(&self) -> RoomStatus {
        RoomStatus {
            room: self.config.room.clone(),
            nick: self.config.nick.clone(),
            ..RoomStatus::default()
        }
    }
}
