//! `hash/*`: the MAC table as vde_switch 2.3.2 shows and tunes it (`hash.c`).
//!
//! Formats are byte for byte vde_switch's. Deliberate differences:
//! - `hash/find` prints the port the address was learned on; vde_switch
//!   prints that port plus one (a bug: its `hash/print` and `hash/find`
//!   disagree about the same entry, spec/vde-console.md §3);
//! - negative or unparsable times are refused with `EINVAL` (vde_switch
//!   stores `hash/setexpire -1` and shows it);
//! - `hash/setsize` only changes the size shown and the `Hash:` column, and
//!   empties the table as vde_switch does: the table's real bound is
//!   `--max-macs`.

use std::fmt::Write as _;
use std::hash::BuildHasher;

use super::{errno, int_arg, ConsoleHost, Reply, Status};
use crate::fdb::{Entry, Key, Vlan};
use crate::mac::MacAddr;
use crate::switch::Switch;
use crate::time::Duration;

/// Which `hash/set*` timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// `hash/setgcint`.
    GcInterval,
    /// `hash/setexpire`.
    Expire,
    /// `hash/setminper`.
    MinPersistence,
}

/// `hash/showinfo`.
pub(super) fn showinfo<S: BuildHasher + Clone>(sw: &Switch<S>) -> Reply {
    let fdb = sw.fdb().config();
    Reply::data(
        format!(
            "Hash size {}\nGC interval {} secs\nGC expire {} secs\nMin persistence {} secs\n",
            sw.config().hash_size,
            fdb.gc_interval.as_secs(),
            fdb.expire.as_secs(),
            fdb.min_persistence.as_secs()
        ),
        Status::Success,
    )
}

/// `hash/setsize N`.
pub(super) fn setsize<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    Reply::done(int_arg(arg).and_then(|n| {
        let n = usize::try_from(n).map_err(|_| errno::EINVAL)?;
        sw.set_hash_size(n).map_err(|e| e.errno())
    }))
}

/// `hash/setportmax N` (ours): at most N addresses learned per port, 0 for
/// no limit (`--port-max-macs`). Ports already over a new limit keep their
/// addresses and learn no new one until under it.
pub(super) fn setportmax<S: BuildHasher + Clone>(sw: &mut Switch<S>, arg: &str) -> Reply {
    match int_arg(arg).map(usize::try_from) {
        Ok(Ok(n)) => {
            sw.fdb_mut().set_port_capacity((n > 0).then_some(n));
            Reply::status(Status::Success)
        }
        _ => Reply::status(Status::Errno(errno::EINVAL)),
    }
}

/// `hash/setgcint N`, `hash/setexpire N`, `hash/setminper N` (seconds).
pub(super) fn set_timer<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    arg: &str,
    timer: Timer,
) -> Reply {
    let secs = match int_arg(arg).map(u64::try_from) {
        Ok(Ok(s)) => s,
        _ => return Reply::status(Status::Errno(errno::EINVAL)),
    };
    let d = Duration::from_secs(secs);
    let fdb = sw.fdb_mut();
    match timer {
        Timer::GcInterval => fdb.set_gc_interval(d),
        Timer::Expire => fdb.set_expire(d),
        Timer::MinPersistence => fdb.set_min_persistence(d),
    }
    Reply::status(Status::Success)
}

/// `hash/print`: every live entry, by bucket.
pub(super) fn print<S: BuildHasher + Clone>(sw: &Switch<S>, host: &dyn ConsoleHost) -> Reply {
    let now = host.now();
    let buckets = sw.config().hash_size;
    let mut rows: Vec<(usize, Key, Entry)> = sw
        .fdb()
        .iter(now)
        .map(|(k, e)| (sw.fdb().bucket(&k, buckets), k, e))
        .collect();
    rows.sort_by_key(|(b, k, _)| (*b, k.vlan, k.mac.0));
    let mut out = String::new();
    for (bucket, key, entry) in rows {
        write_entry(&mut out, bucket, &key, &entry, now);
    }
    Reply::data(out, Status::Success)
}

/// `hash/find MAC [VLAN]`: `ENODEV` when the address is not in the table.
pub(super) fn find<S: BuildHasher + Clone>(
    sw: &Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    let mut out = String::new();
    let Some((mac, vlan)) = parse_find(arg) else {
        return Reply::data(out, Status::Errno(errno::EINVAL));
    };
    let now = host.now();
    match sw.fdb().get(now, vlan, mac) {
        Some(entry) => {
            let key = crate::fdb::Key { vlan, mac };
            let bucket = sw.fdb().bucket(&key, sw.config().hash_size);
            write_entry(&mut out, bucket, &key, &entry, now);
            Reply::data(out, Status::Success)
        }
        None => Reply::data(out, Status::Errno(errno::ENODEV)),
    }
}

fn write_entry(
    out: &mut String,
    bucket: usize,
    key: &Key,
    entry: &Entry,
    now: crate::time::Instant,
) {
    let _ = writeln!(
        out,
        "Hash: {bucket:04} Addr: {} VLAN {:04} to port: {:03}  age {} secs",
        key.mac,
        key.vlan,
        entry.port,
        now.saturating_duration_since(entry.last_seen).as_secs()
    );
}

/// `MAC [VLAN]`: six hex bytes separated by `:` (or, with no `:`, by `.`, as
/// vde_switch accepts), then an optional decimal VLAN (default 0).
fn parse_find(arg: &str) -> Option<(MacAddr, Vlan)> {
    let mut words = arg.split_whitespace();
    let text = words.next()?;
    let sep = if text.contains(':') { ':' } else { '.' };
    let mut mac = [0u8; 6];
    let mut parts = text.split(sep);
    for byte in mac.iter_mut() {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let vlan = match words.next() {
        None => 0,
        Some(v) => v.parse().ok()?,
    };
    Some((MacAddr(mac), vlan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_arguments() {
        let m = MacAddr([2, 0, 0, 0, 0, 0x0b]);
        assert_eq!(parse_find("02:00:00:00:00:0b"), Some((m, 0)));
        assert_eq!(parse_find("2:0:0:0:0:b 9"), Some((m, 9)));
        assert_eq!(parse_find("02.00.00.00.00.0b"), Some((m, 0)));
        assert_eq!(parse_find(""), None);
        assert_eq!(parse_find("02:00:00:00:00"), None);
        assert_eq!(parse_find("02:00:00:00:00:0b:01"), None);
        assert_eq!(parse_find("02:00:00:00:00:0b x"), None);
        assert_eq!(parse_find("zz"), None);
    }
}
