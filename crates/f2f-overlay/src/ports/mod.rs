//! Port adapters: one module per kind of port. Each turns its transport into
//! frames for [`crate::datapath::Datapath::forward`] and registers a sink for
//! the frames the switch sends back.

pub mod dhcp;
pub mod link;
pub mod spin;
pub mod stream;
pub mod tap;
pub mod vde;
pub mod xmpp;
