//! Byte formats f2f-overlay speaks with unmodified VDE and qemu peers.
//!
//! This module owns the encoding and decoding of records that cross a process
//! boundary, and nothing else: no sockets, no buffers owned by the I/O side, no
//! policy about what to do with a well-formed record. Each format comes in the
//! two shapes of the house style:
//!
//! - a borrowed view over the caller's bytes, checked once by `new_checked`,
//!   with infallible accessors afterwards (field offsets live in one private
//!   `mod field` per format);
//! - an owned representation with `parse`, `buffer_len` and `emit`, for which
//!   parse → emit → parse is the identity on every accepted input (a unit test
//!   and a fuzz target check it).
//!
//! Stream framing is check-then-parse: [`stream::check`] looks at buffered
//! bytes and says whether a whole record is there, so the I/O side only ever
//! buffers and never guesses.
//!
//! Invariants shared by every format here: nothing derived from the bytes can
//! make the code panic or allocate without bound; a malformed record is an
//! error value that names what was wrong and where.
//!
//! - [`vde`]: the control-socket handshake of `vde_switch` (request and reply
//!   records, spec/vde-protocol.md §2).
//! - [`bpdu`]: spanning-tree BPDUs exactly as `vde_switch -F` sends them
//!   (spec/fstp.md §2).
//! - [`stream`]: length-prefixed frames on byte streams: `vde_plug`'s 2-byte
//!   prefix (§6) and qemu `-netdev stream`'s 4-byte prefix (§7).
//! - [`xmpp`]: frames as base64 elements in XMPP stanzas, and how many go
//!   into one stanza (spec/xmpp-transport.md §5).
//!
//! - [`offload`]: the virtio-net header of taps with offloads, and finishing
//!   an offloaded frame (checksum, TCP segmentation) for ports without them.
//!
//! Data-socket datagrams need no format of their own: one datagram is one
//! Ethernet frame, with no header (§3.2).

pub mod bpdu;
pub mod offload;
pub mod stream;
pub mod vde;
pub mod xmpp;
