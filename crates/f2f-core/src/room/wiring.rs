//! Who links to whom, and over which transport. Pure functions of what every
//! node knows alike (the topology, the master's nick, the granted members and
//! what they advertise), so both ends of a link reach the same answer without
//! talking.
//!
//! Edges: in a star every member links to the master (and the master to every
//! member); in a mesh every pair of granted members links, and the switches'
//! spanning tree blocks the loops.
//!
//! Transport of the link between `a` and `b`, given what each advertised
//! ([`LinkInfo`]):
//! 1. One side `xmpp`: XMPP, unless the other side is `tcp` (no link: the
//!    modes exclude each other).
//! 2. Otherwise TCP when someone can dial: when both advertise an endpoint the
//!    lower nick (byte order) dials the other; when one does, the other dials it.
//! 3. Nobody reachable: XMPP when neither side is `tcp`, else no link.
//!
//! `auto` falls back per link: when a TCP link fails and both sides are
//! `auto`, the link moves to XMPP ([`falls_back`]); otherwise it is retried.

use std::collections::BTreeSet;

use super::message::{LinkInfo, Topology, TransportMode};
use super::LinkTransport;

/// The peers `me` links to.
///
/// `master` is the master's nick when known; `members` are the granted
/// members present (may include `me` and the master; both are skipped as
/// peers where they do not belong).
pub fn wanted<'a>(
    topology: Topology,
    me: &str,
    master: Option<&str>,
    members: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let others = members.into_iter().filter(|m| *m != me);
    match topology {
        Topology::Mesh => others.map(str::to_string).collect(),
        Topology::Star if master == Some(me) => others.map(str::to_string).collect(),
        Topology::Star => master
            .filter(|m| *m != me)
            .map(str::to_string)
            .into_iter()
            .collect(),
    }
}

/// How `me` (advertising `mine`) makes its link to `peer` (advertising
/// `theirs`), or why no link is possible.
pub fn transport(
    me: &str,
    mine: &LinkInfo,
    peer: &str,
    theirs: &LinkInfo,
) -> Result<LinkTransport, String> {
    use TransportMode::{Tcp, Xmpp};
    let modes = (mine.transport, theirs.transport);
    if matches!(modes, (Xmpp, Tcp) | (Tcp, Xmpp)) {
        return Err(format!(
            "{me} takes only {} and {peer} only {}",
            mine.transport, theirs.transport
        ));
    }
    if modes.0 == Xmpp || modes.1 == Xmpp {
        return Ok(LinkTransport::Xmpp);
    }
    let i_dial = match (&mine.endpoint, &theirs.endpoint) {
        (Some(_), Some(_)) => Some(me < peer),
        (None, Some(_)) => Some(true),
        (Some(_), None) => Some(false),
        (None, None) => None,
    };
    match i_dial {
        Some(true) => Ok(LinkTransport::Tcp {
            dial: theirs.endpoint.clone(),
        }),
        Some(false) => Ok(LinkTransport::Tcp { dial: None }),
        None if modes.0 == Tcp || modes.1 == Tcp => Err(format!(
            "neither {me} nor {peer} advertises an endpoint and one takes only tcp"
        )),
        None => Ok(LinkTransport::Xmpp),
    }
}

/// True when a failed TCP link between these two moves to XMPP (both `auto`).
pub fn falls_back(mine: &LinkInfo, theirs: &LinkInfo) -> bool {
    mine.transport == TransportMode::Auto && theirs.transport == TransportMode::Auto
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::message::Endpoint;

    fn info(endpoint: Option<&str>, transport: TransportMode) -> LinkInfo {
        LinkInfo {
            endpoint: endpoint.map(|e| Endpoint::new(e).unwrap()),
            public_key: None,
            transport,
        }
    }

    #[test]
    fn star_and_mesh_peers() {
        let all = ["m", "a", "b"];
        assert_eq!(
            wanted(Topology::Star, "m", Some("m"), all),
            ["a", "b"].map(String::from).into()
        );
        assert_eq!(
            wanted(Topology::Star, "a", Some("m"), all),
            ["m"].map(String::from).into()
        );
        assert!(wanted(Topology::Star, "a", None, all).is_empty());
        assert_eq!(
            wanted(Topology::Mesh, "a", None, all),
            ["b", "m"].map(String::from).into()
        );
    }

    #[test]
    fn both_ends_agree_on_transport() {
        use TransportMode::*;
        let e = |p| Some(if p == 1 { "10.0.0.1:1" } else { "10.0.0.2:2" });
        let cases = [
            (info(e(1), Auto), info(e(2), Auto)),
            (info(None, Auto), info(e(2), Tcp)),
            (info(e(1), Tcp), info(None, Auto)),
            (info(None, Auto), info(None, Auto)),
            (info(e(1), Xmpp), info(e(2), Auto)),
        ];
        for (x, y) in &cases {
            let ab = transport("a", x, "b", y).unwrap();
            let ba = transport("b", y, "a", x).unwrap();
            match (&ab, &ba) {
                (LinkTransport::Xmpp, LinkTransport::Xmpp) => {}
                (LinkTransport::Tcp { dial: d1 }, LinkTransport::Tcp { dial: d2 }) => {
                    assert!(
                        d1.is_some() != d2.is_some(),
                        "exactly one dials: {ab:?} {ba:?}"
                    );
                }
                _ => panic!("disagree: {ab:?} {ba:?}"),
            }
        }
        // Lower nick dials when both are reachable.
        assert_eq!(
            transport("a", &cases[0].0, "b", &cases[0].1),
            Ok(LinkTransport::Tcp {
                dial: Some(Endpoint::new("10.0.0.2:2").unwrap())
            })
        );
        assert!(transport("a", &info(None, Tcp), "b", &info(None, Auto)).is_err());
        assert!(transport("a", &info(e(1), Tcp), "b", &info(e(2), Xmpp)).is_err());
    }
}
