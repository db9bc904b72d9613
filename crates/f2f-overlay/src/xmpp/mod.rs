//! The XMPP side of rooms (spec/xmpp-transport.md): reaching and logging in
//! to the server ([`connect`]), the multi-user chat's presences ([`muc`]),
//! and the one task that owns the stream ([`session`]).

pub mod connect;
pub mod muc;
pub mod session;
