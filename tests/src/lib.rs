//! Harness for the end-to-end tests in `tests/tests/`.
//!
//! The tests drive the release binary (`target/release/f2f-overlay`, or `$F2F_BIN`) against the
//! real peers: `vde_plug2tap`, `vde_plug`, `dpipe`, `unixterm`, qemu and the real `vde_switch`.
//! This crate owns the plumbing they share and nothing else:
//!
//! - [`tools`]: where the binaries are, and the rule for missing root or tools (`CI=true` fails,
//!   otherwise the test says why and returns early: see [`require!`]).
//! - [`tmp`]: temporary directories removed on drop.
//! - [`proc`]: a [`Child`] guard that kills only the process (group) it started and keeps its
//!   stdout/stderr in files for assertions.
//! - [`netns`]: network namespaces the test creates and deletes, taps in them, `ping`.
//! - [`switch`]: starting a switch of each [`SwitchKind`] (ours, ours through a `vde_switch`
//!   symlink, the real `vde_switch`) on a fresh control directory.
//! - [`mgmt`]: a client for the management console, its reply parsers, and a `unixterm` runner.
//! - [`vde`]: a raw VDE data-socket client (handshake by hand, arbitrary bytes, frames).
//! - [`dhcp`]: DHCP clients (`udhcpc`, `dhclient`, hand-built frames), `dhcp/print`, the test VM.
//! - [`stream`]: a `--stream-listen` client with qemu's 4-byte framing, and vde_plug's 2-byte
//!   stream records.
//! - [`links`]: switches joined by links: keys, free ports, link status.
//! - [`tcp_cut`]: a TCP forwarder whose connections the test cuts (link flaps).
//! - [`prosody`]: a Prosody XMPP server of the test's own on loopback, with accounts.
//! - [`room`]: `f2f-overlay join` processes with their taps moved into namespaces.
//! - [`xmpp_client`]: a hand-written XMPP client that sends forged room messages.
//! - [`vm`]: the cached image builds (`images/*.sh`) and `f2f-overlay vm` processes.
//! - [`peers`]: qemu, plugs (real, our `vde_plug` symlink, `f2f-overlay plug`) and `dpipe`.
//! - [`users`]: unprivileged users and groups made for a test, and `runuser`.
//!
//! Waiting is always polling a condition against a deadline ([`wait_until`]), never a fixed sleep.
//! Everything a test starts is torn down by guards, in reverse order of creation.

pub mod dhcp;
pub mod links;
pub mod mgmt;
pub mod netns;
pub mod peers;
pub mod proc;
pub mod prosody;
pub mod room;
pub mod stream;
pub mod switch;
pub mod tcp_cut;
pub mod tmp;
pub mod tools;
pub mod users;
pub mod vde;
pub mod vm;
pub mod xmpp_client;

pub use mgmt::{Mgmt, Reply};
pub use netns::{ping, Netns, TapHost};
pub use proc::{Child, Spawn};
pub use switch::{Switch, SwitchKind};
pub use tmp::TempDir;
pub use vde::RawClient;

use std::time::{Duration, Instant};

/// How often [`wait_until`] re-checks its condition.
const POLL: Duration = Duration::from_millis(20);

/// Polls `cond` until it holds or `timeout` has passed; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Like [`wait_until`], but panics naming `what` when the deadline passes.
pub fn wait_for(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(timeout, cond),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// Returns early from the calling test unless every condition holds.
///
/// Each condition is a `bool` expression such as `tools::require_root()`: those functions
/// panic with the reason under `CI=true` and print it and return `false` otherwise.
#[macro_export]
macro_rules! require {
    ($($cond:expr),+ $(,)?) => {
        $( if !$cond { return; } )+
    };
}

/// Generates one `#[test]` per switch kind for a scenario `fn NAME(kind: SwitchKind)`.
///
/// `for_kinds!(taps_ping);` makes `taps_ping::ours`, `taps_ping::symlink` and
/// `taps_ping::real`; `for_kinds!(runt_dropped: ours, symlink);` makes only those listed.
/// Kind names: `ours` ([`SwitchKind::Ours`]), `symlink` ([`SwitchKind::OursAsVdeSwitch`]),
/// `real` ([`SwitchKind::RealVdeSwitch`]).
#[macro_export]
macro_rules! for_kinds {
    ($scenario:ident) => {
        $crate::for_kinds!($scenario: ours, symlink, real);
    };
    ($scenario:ident : $($kind:ident),+ $(,)?) => {
        mod $scenario {
            $(
                #[test]
                fn $kind() {
                    super::$scenario($crate::SwitchKind::by_short_name(stringify!($kind)));
                }
            )+
        }
    };
}
