//! Multi-user chat (XEP-0045) as the room needs it: the presence that joins
//! (asking for no history, so old control messages are never replayed) and
//! leaves, and what an occupant's presence says: nick, affiliation, role,
//! real JID when the room shows it, whether it is our own (status 110), and
//! whether the occupant left.

use f2f_core::room::{Affiliation as RoomAffiliation, MucRole, Occupant};
use tokio_xmpp::jid::{BareJid, FullJid};
use tokio_xmpp::parsers::muc::muc::History;
use tokio_xmpp::parsers::muc::user::{Affiliation, MucUser, Role, Status};
use tokio_xmpp::parsers::muc::Muc;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::DefinedCondition;

/// What a presence from the room tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomPresence {
    /// An occupant is (still) in the room; `own` when it is us (status 110),
    /// which completes our join.
    Here {
        /// Who.
        occupant: Occupant,
        /// Our own presence.
        own: bool,
    },
    /// An occupant left (unavailable); `own` when it is us.
    Left {
        /// Its nickname.
        nick: String,
        /// Our own presence.
        own: bool,
    },
    /// Our join was refused: the nickname is taken.
    NickConflict,
    /// Our join was refused for another reason.
    Refused(String),
}

/// The presence that joins `room` as `nick`, asking for no history.
pub fn join(room: &BareJid, nick: &str) -> Option<Presence> {
    let to = room.with_resource_str(nick).ok()?;
    let muc = Muc {
        password: None,
        history: Some(History::new().with_maxstanzas(0)),
    };
    Some(Presence::available().with_to(to).with_payload(muc))
}

/// The presence that leaves `room`.
pub fn leave(room: &BareJid, nick: &str) -> Option<Presence> {
    let to = room.with_resource_str(nick).ok()?;
    Some(Presence::unavailable().with_to(to))
}

/// Read a presence from `room`; `None` when it is not from an occupant of
/// that room or says nothing the room needs.
pub fn parse(room: &BareJid, presence: &Presence) -> Option<RoomPresence> {
    let from: FullJid = match presence.from.as_ref()?.try_as_full() {
        Ok(full) if full.to_bare() == *room => full.clone(),
        _ => return None,
    };
    let nick = from.resource().as_str().to_string();
    if presence.type_ == PresenceType::Error {
        return Some(refusal(presence));
    }
    let user = presence
        .payloads
        .iter()
        .find_map(|p| MucUser::try_from(p.clone()).ok());
    let own = user
        .as_ref()
        .is_some_and(|u| u.status.contains(&Status::SelfPresence));
    if presence.type_ == PresenceType::Unavailable {
        return Some(RoomPresence::Left { nick, own });
    }
    if presence.type_ != PresenceType::None {
        return None;
    }
    let item = user.as_ref().and_then(|u| u.items.first());
    let occupant = Occupant {
        nick,
        jid: item
            .and_then(|i| i.jid.as_ref())
            .map(|j| j.to_bare().to_string()),
        affiliation: item.map_or(RoomAffiliation::None, |i| affiliation(&i.affiliation)),
        role: item.map_or(MucRole::None, |i| role(&i.role)),
    };
    Some(RoomPresence::Here { occupant, own })
}

/// Why the room refused our presence.
fn refusal(presence: &Presence) -> RoomPresence {
    let error = presence
        .payloads
        .iter()
        .find_map(|p| tokio_xmpp::parsers::stanza_error::StanzaError::try_from(p.clone()).ok());
    match error.map(|e| e.defined_condition) {
        Some(DefinedCondition::Conflict) => RoomPresence::NickConflict,
        Some(other) => RoomPresence::Refused(format!("{other:?}")),
        None => RoomPresence::Refused("error presence".to_string()),
    }
}

fn affiliation(a: &Affiliation) -> RoomAffiliation {
    match a {
        Affiliation::Owner => RoomAffiliation::Owner,
        Affiliation::Admin => RoomAffiliation::Admin,
        Affiliation::Member => RoomAffiliation::Member,
        Affiliation::Outcast => RoomAffiliation::Outcast,
        Affiliation::None => RoomAffiliation::None,
    }
}

fn role(r: &Role) -> MucRole {
    match r {
        Role::Moderator => MucRole::Moderator,
        Role::Participant => MucRole::Participant,
        Role::Visitor => MucRole::Visitor,
        Role::None => MucRole::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    fn presence(xml: &str) -> Presence {
        Presence::try_from(xml.parse::<Element>().unwrap()).unwrap()
    }

    #[test]
    fn own_presence_with_real_jid() {
        let room: BareJid = "r@conference.localhost".parse().unwrap();
        let p = presence(
            "<presence xmlns='jabber:client' from='r@conference.localhost/alice'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='owner' role='moderator' jid='alice@localhost/x'/>\
             <status code='110'/></x></presence>",
        );
        let expected = Occupant {
            nick: "alice".into(),
            jid: Some("alice@localhost".into()),
            affiliation: RoomAffiliation::Owner,
            role: MucRole::Moderator,
        };
        assert_eq!(
            parse(&room, &p),
            Some(RoomPresence::Here {
                occupant: expected,
                own: true
            })
        );
        let gone = presence(
            "<presence xmlns='jabber:client' type='unavailable' from='r@conference.localhost/bob'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x>\
             </presence>",
        );
        assert_eq!(
            parse(&room, &gone),
            Some(RoomPresence::Left {
                nick: "bob".into(),
                own: false
            })
        );
        let other_room =
            presence("<presence xmlns='jabber:client' from='x@conference.localhost/bob'/>");
        assert_eq!(parse(&room, &other_room), None);
        let conflict = presence(
            "<presence xmlns='jabber:client' type='error' from='r@conference.localhost/bob'>\
             <error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>\
             </presence>",
        );
        assert_eq!(parse(&room, &conflict), Some(RoomPresence::NickConflict));
    }
}
