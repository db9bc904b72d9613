//! `port/setuser N USER` and `port/setgroup N GROUP`: who may attach to a
//! port (`port.c`, `portsetuser`, `portsetgroup`).
//!
//! The name is looked up first (through the [`ConsoleHost`]); else a leading
//! digit reads the number (`12abc` is uid 12, as with `atoi`); else `NONE`
//! or `ANY` clears the restriction; anything else is `EINVAL`. A port that
//! does not exist is `ENXIO`, a number out of range `EINVAL`.

use std::hash::BuildHasher;

use super::{errno, parse_c_int, to_port, ConsoleHost, Reply};
use crate::switch::Switch;

/// `port/setuser N USER`.
pub(super) fn setuser<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    Reply::done(
        parse(sw, arg, |n| host.user_by_name(n)).and_then(|(port, id)| {
            sw.port_mut(port).map_err(|e| e.errno())?.access_user = id;
            Ok(())
        }),
    )
}

/// `port/setgroup N GROUP`.
pub(super) fn setgroup<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    Reply::done(
        parse(sw, arg, |n| host.group_by_name(n)).and_then(|(port, id)| {
            sw.port_mut(port).map_err(|e| e.errno())?.access_group = id;
            Ok(())
        }),
    )
}

/// `N NAME` → the port and the id to allow (`None`: anyone).
fn parse<S: BuildHasher + Clone>(
    sw: &Switch<S>,
    arg: &str,
    by_name: impl Fn(&str) -> Option<u32>,
) -> Result<(crate::switch::PortId, Option<u32>), u16> {
    let mut words = arg.split_whitespace();
    let port = words
        .next()
        .and_then(parse_c_int)
        .ok_or(errno::EINVAL)
        .and_then(to_port)?;
    let name = words.next().ok_or(errno::EINVAL)?;
    if usize::from(port) >= sw.config().numports {
        return Err(errno::EINVAL);
    }
    if sw.port(port).is_none() {
        return Err(errno::ENXIO);
    }
    if let Some(id) = by_name(name) {
        return Ok((port, Some(id)));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let id = digits.parse::<u32>().map_err(|_| errno::EINVAL)?;
        return Ok((port, Some(id)));
    }
    match name {
        "NONE" | "ANY" => Ok((port, None)),
        _ => Err(errno::EINVAL),
    }
}
