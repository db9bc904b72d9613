//! The management console: vde_switch's command language and reply format.
//!
//! One line in, one reply out, byte-compatible with vde_switch 2.3.2
//! (spec/vde-console.md) so that `unixterm`, `vdeterm` and existing scripts
//! work unchanged:
//! - leading blanks are skipped; an empty line or a `#` comment gets no reply
//!   but the prompt;
//! - a command is found by *prefix*: the first table entry whose path starts
//!   the line (`port/printfoo` runs `port/print` with argument `foo`, as in
//!   vde_switch), the argument is the rest after blanks;
//! - commands with output reply `0000 DATA END WITH '.'`, the lines, `.`;
//!   then a status line `1000 Success` or `1EEE <strerror>`; then the prompt.
//!
//! This module does no I/O. Facts only the shell knows (pid, uptime, socket
//! paths, user names, the time) come through [`ConsoleHost`]; what the shell
//! must do (close the session, stop the switch, read a script for `load`)
//! comes back as an [`Action`].
//!
//! The command set is vde_switch's, in its order (`help` lists exactly what
//! vde_switch lists), plus our extensions, marked "ours" in the README:
//! `port/stats`. Where we deliberately answer differently, the submodule
//! doing it says so: numbers that do not parse are `EINVAL` (vde_switch's
//! `atoi` reads them as 0), `hash/find` prints the right port (vde_switch
//! prints port+1), `fstp/print` shows the real role of tagged ports,
//! `plugin/add` of a Debian plugin names our equivalent, VLAN 0 cannot be removed,
//! and endpoint descriptions are printed with control characters escaped.
//!
//! Submodules hold the commands of each menu: [`vlan`] (`vlan/*`,
//! `port/setvlan`), [`hash`], [`fstp`], [`debug`] (`debug/*`, `plugin/*`),
//! [`access`] (`port/setuser`, `port/setgroup`).

mod access;
#[cfg(test)]
mod command_tests;
mod debug;
mod fstp;
mod hash;
mod table;
#[cfg(test)]
pub(crate) mod test_host;
mod vlan;

use std::fmt::Write as _;
use std::hash::BuildHasher;

use crate::switch::{DropReason, Port, PortId, Switch};
use crate::time::Instant;
pub use debug::render_debug;
use table::Cmd;
pub use table::{COMMANDS, EXTENSIONS};

/// The banner a management client sees on connect.
pub const BANNER: &str =
    "VDE switch V.2.3.2\n(C) Virtual Square Team (coord. R. Davoli) 2005,2006,2007 - GPLv2\n";
/// The prompt after every reply.
pub const PROMPT: &str = "\nvde$ ";
/// The reply to `logout` and `shutdown` (no newline, as vde_switch).
pub const END_OF_SESSION: &str = "9999 END OF SESSION";
/// Longest command line vde_switch reads in one go.
pub const MAX_LINE: usize = 128;

/// What the shell tells the console about itself.
pub trait ConsoleHost {
    /// Process id of the switch.
    fn pid(&self) -> u32;
    /// Seconds since the switch started.
    fn uptime_secs(&self) -> u64;
    /// Path and octal mode of the management socket, if there is one.
    fn mgmt_socket(&self) -> Option<(String, u32)>;
    /// The control directory and its control socket's mode.
    fn ctl_dir(&self) -> (String, u32);
    /// A user name for `uid` (the number when unknown).
    fn user_name(&self, uid: u32) -> String;
    /// A group name for `gid` (the number when unknown).
    fn group_name(&self, gid: u32) -> String;
    /// The uid of user `name`, if there is such a user (`port/setuser`).
    fn user_by_name(&self, name: &str) -> Option<u32> {
        let _ = name;
        None
    }
    /// The gid of group `name`, if there is such a group (`port/setgroup`).
    fn group_by_name(&self, name: &str) -> Option<u32> {
        let _ = name;
        None
    }
    /// The switch's notion of now (ages in `hash/print`); by default the
    /// uptime, whole seconds.
    fn now(&self) -> Instant {
        Instant::from_secs(self.uptime_secs())
    }
    /// This session's debug subscriptions: a mask of
    /// [`crate::switch::Category::bit`]s (`debug/list`, `debug/add`,
    /// `debug/del`); none by default.
    fn debug_mask(&self) -> u16 {
        0
    }
    /// `dhcp/print`'s text ([`crate::dhcp::DhcpServer::render_print`]), or
    /// `None` when the switch runs no DHCP server.
    fn dhcp_print(&self) -> Option<String> {
        None
    }
}

/// What the shell must do after sending a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing: send the prompt and wait for the next line.
    None,
    /// Close this console session.
    Logout,
    /// Stop the switch.
    Shutdown,
    /// Close endpoint `id` of `port` (`port/epclose`). The shell sets the
    /// reply's status: success, or `ENXIO` when there is no such endpoint.
    CloseEndpoint {
        /// The port.
        port: PortId,
        /// The endpoint id.
        id: u32,
    },
    /// Answer `status/json`: the shell builds a [`crate::status::Snapshot`]
    /// (adding the sections it owns) and puts its JSON line in the reply's
    /// data before sending it.
    Status,
    /// Turn this session into a capture stream of `port` (`port/capture`,
    /// see [`crate::capture`]): after `1000 Success\n` and no prompt, the
    /// shell sends capture messages until `count` frames or the client's stop.
    /// A session that cannot stream (the stdin console) answers
    /// `EOPNOTSUPP` instead.
    Capture {
        /// The port to capture.
        port: PortId,
        /// Stop after this many frames.
        count: Option<u64>,
    },
    /// `debug/add`, `debug/del`: this session now subscribes to the debug
    /// categories in `mask` ([`crate::switch::Category::bit`]); the shell
    /// writes their events ([`render_debug`]) to it between replies. A
    /// session that cannot receive them answers `EOPNOTSUPP` instead.
    Debug {
        /// The session's new subscriptions.
        mask: u16,
    },
    /// `load PATH`: read the script and run each line (see [`script_echo`]);
    /// the shell sets the reply's status: success, or the errno of the read.
    Load {
        /// The script's path as typed.
        path: String,
    },
}

/// How deep `load` may nest before the shell refuses with `ELOOP`
/// (vde_switch recurses until it runs out of file descriptors).
pub const MAX_LOAD_DEPTH: usize = 8;

/// What `load` prints before the reply to each line of a script:
/// `vde[PATH]: LINE` (vde_switch's `runscript`), control characters escaped.
pub fn script_echo(path: &str, line: &str) -> String {
    format!("vde[{}]: {}\n", escape_control(path), escape_control(line))
}

/// `text` with every control character written as an escape (`\n`, `\r`,
/// `\t`, else `\xNN`), so that what a client or a file says can never forge
/// a console line.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Outcome of a command: vde_switch's status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `1000 Success`.
    Success,
    /// `1EEE <strerror(EEE)>`.
    Errno(u16),
}

/// errno values the console reports (Linux numbering, as vde_switch prints).
pub mod errno {
    /// No such file or directory.
    pub const ENOENT: u16 = 2;
    /// No such device or address.
    pub const ENXIO: u16 = 6;
    /// Permission denied.
    pub const EACCES: u16 = 13;
    /// File exists.
    pub const EEXIST: u16 = 17;
    /// No such device.
    pub const ENODEV: u16 = 19;
    /// Invalid argument.
    pub const EINVAL: u16 = 22;
    /// No space left on device.
    pub const ENOSPC: u16 = 28;
    /// Function not implemented.
    pub const ENOSYS: u16 = 38;
    /// Too many levels of symbolic links (`load` nested too deep).
    pub const ELOOP: u16 = 40;
    /// Operation not supported.
    pub const EOPNOTSUPP: u16 = 95;
    /// Address already in use.
    pub const EADDRINUSE: u16 = 98;
}

/// The C library's message for an errno the console uses.
pub fn strerror(code: u16) -> &'static str {
    match code {
        1 => "Operation not permitted",
        errno::ENOENT => "No such file or directory",
        errno::ENXIO => "No such device or address",
        errno::EACCES => "Permission denied",
        errno::EEXIST => "File exists",
        errno::ENODEV => "No such device",
        errno::EINVAL => "Invalid argument",
        errno::ENOSPC => "No space left on device",
        errno::ENOSYS => "Function not implemented",
        errno::ELOOP => "Too many levels of symbolic links",
        5 => "Input/output error",
        9 => "Bad file descriptor",
        12 => "Cannot allocate memory",
        20 => "Not a directory",
        21 => "Is a directory",
        27 => "File too large",
        36 => "File name too long",
        errno::EOPNOTSUPP => "Operation not supported",
        errno::EADDRINUSE => "Address already in use",
        _ => "Unknown error",
    }
}

/// The reply to one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Lines of data, when the command produces output (even on failure).
    pub data: Option<String>,
    /// The status; `None` for blank lines and comments, which get no status.
    pub status: Option<Status>,
    /// What the shell does next.
    pub action: Action,
}

impl Reply {
    fn status(status: Status) -> Reply {
        Reply {
            data: None,
            status: Some(status),
            action: Action::None,
        }
    }

    fn done(result: Result<(), u16>) -> Reply {
        Reply::status(result.map_or_else(Status::Errno, |()| Status::Success))
    }

    fn data(data: String, status: Status) -> Reply {
        Reply {
            data: Some(data),
            status: Some(status),
            action: Action::None,
        }
    }

    /// The bytes vde_switch would send for this reply, prompt included
    /// (`logout`/`shutdown` end the session with no prompt).
    pub fn render(&self) -> String {
        let mut out = self.render_body();
        match self.action {
            Action::Logout | Action::Shutdown => out.push_str(END_OF_SESSION),
            // The capture stream follows the status line; no prompt.
            Action::Capture { .. } if self.status == Some(Status::Success) => {}
            _ => out.push_str(PROMPT),
        }
        out
    }

    /// The data block and the status line, without the prompt: what a line
    /// of a `load` script prints. `logout` and `shutdown` print nothing there
    /// (vde_switch ignores them in scripts).
    pub fn render_body(&self) -> String {
        let mut out = String::new();
        if let Some(data) = &self.data {
            out.push_str("0000 DATA END WITH '.'\n");
            out.push_str(data);
            out.push_str(".\n");
        }
        match self.status {
            Some(Status::Success) => out.push_str("1000 Success\n"),
            Some(Status::Errno(e)) => {
                let _ = writeln!(out, "1{e:03} {}", strerror(e));
            }
            None => {}
        }
        out
    }
}

/// A command of the table: its path, syntax and help text as vde_switch
/// prints them in `help`. Menu rows (`handler: None`) only structure help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandInfo {
    /// Path typed by the user, e.g. `port/print`.
    pub path: &'static str,
    /// Argument syntax shown by `help`.
    pub syntax: &'static str,
    /// One-line help.
    pub help: &'static str,
    handler: Option<Cmd>,
}

/// A parsed console line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Blank or a comment: no reply but the prompt.
    Empty,
    /// A known command and its argument (leading blanks removed).
    Command {
        /// The table entry.
        info: &'static CommandInfo,
        /// The rest of the line.
        arg: &'a str,
    },
    /// Nothing in the table matches.
    Unknown,
}

/// Parse one line by vde_switch's rules (see the module docs).
pub fn parse_line(line: &str) -> Line<'_> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let line = line.trim_start_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') {
        return Line::Empty;
    }
    for info in COMMANDS {
        if info.handler.is_some() && line.starts_with(info.path) {
            let arg = line.get(info.path.len()..).unwrap_or("");
            return Line::Command {
                info,
                arg: arg.trim_start_matches([' ', '\t']),
            };
        }
    }
    Line::Unknown
}

/// The reply to a line that cannot be a command (e.g. far too long).
pub fn execute_invalid() -> Reply {
    Reply::status(Status::Errno(errno::EINVAL))
}

/// Run one console line against the switch.
pub fn execute<S: BuildHasher + Clone>(
    switch: &mut Switch<S>,
    host: &dyn ConsoleHost,
    line: &str,
) -> Reply {
    match parse_line(line) {
        Line::Empty => Reply {
            data: None,
            status: None,
            action: Action::None,
        },
        Line::Unknown => Reply::status(Status::Errno(errno::ENOSYS)),
        Line::Command { info, arg } => match info.handler {
            Some(c) => run(c, switch, host, arg),
            None => Reply::status(Status::Errno(errno::ENOSYS)),
        },
    }
}

fn run<S: BuildHasher + Clone>(
    c: Cmd,
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    let done = Reply::done;
    match c {
        Cmd::Help => help(arg),
        Cmd::Logout => Reply {
            data: None,
            status: None,
            action: Action::Logout,
        },
        Cmd::Shutdown => Reply {
            data: None,
            status: None,
            action: Action::Shutdown,
        },
        Cmd::Showinfo => showinfo(sw, host),
        Cmd::Load => Reply {
            data: None,
            status: None,
            action: Action::Load {
                path: arg.to_string(),
            },
        },
        Cmd::DebugList => debug::list(host, arg),
        Cmd::DebugAdd => debug::add(host, arg),
        Cmd::DebugDel => debug::del(host, arg),
        Cmd::PluginList => debug::plugin_list(arg),
        Cmd::PluginAdd => debug::plugin_add(arg),
        Cmd::PluginDel => debug::plugin_del(arg),
        Cmd::HashShowinfo => hash::showinfo(sw),
        Cmd::HashSetsize => hash::setsize(sw, arg),
        Cmd::HashSetportmax => hash::setportmax(sw, arg),
        Cmd::HashSetgcint => hash::set_timer(sw, arg, hash::Timer::GcInterval),
        Cmd::HashSetexpire => hash::set_timer(sw, arg, hash::Timer::Expire),
        Cmd::HashSetminper => hash::set_timer(sw, arg, hash::Timer::MinPersistence),
        Cmd::HashPrint => hash::print(sw, host),
        Cmd::HashFind => hash::find(sw, host, arg),
        Cmd::FstpShowinfo => fstp::showinfo(sw, host),
        Cmd::FstpSetfstp => fstp::setfstp(sw, host, arg),
        Cmd::FstpSetedge => fstp::setedge(sw, host, arg),
        Cmd::FstpBonus => fstp::bonus(sw, host, arg),
        Cmd::FstpPrint => fstp::print(sw, host, arg),
        Cmd::PortSetvlan => vlan::port_setvlan(sw, arg),
        Cmd::PortSetuser => access::setuser(sw, host, arg),
        Cmd::PortSetgroup => access::setgroup(sw, host, arg),
        Cmd::VlanCreate => vlan::create(sw, arg),
        Cmd::VlanRemove => vlan::remove(sw, arg),
        Cmd::VlanAddport => vlan::addport(sw, arg),
        Cmd::VlanDelport => vlan::delport(sw, arg),
        Cmd::VlanPrint => vlan::print(sw, arg, false),
        Cmd::VlanAllprint => vlan::print(sw, arg, true),
        Cmd::DsShowinfo => {
            let (dir, mode) = host.ctl_dir();
            Reply::data(
                format!("ctl dir {dir}\nstd mode 0{mode:03o}\n"),
                Status::Success,
            )
        }
        Cmd::PortShowinfo => {
            let cfg = sw.config();
            Reply::data(
                format!(
                    "Numports={}\nHUB={}\ncounters=true\n",
                    cfg.numports, cfg.hub
                ),
                Status::Success,
            )
        }
        Cmd::PortSetnumports => done(int_arg(arg).and_then(|n| {
            let n = usize::try_from(n).map_err(|_| errno::EINVAL)?;
            sw.set_numports(n).map_err(|e| e.errno())
        })),
        Cmd::PortSethub => done(bool_arg(arg).map(|hub| sw.set_hub(hub))),
        Cmd::PortCreateauto => match sw.create_port_auto() {
            Ok(id) => Reply::data(format!("Port {id:04}\n"), Status::Success),
            Err(e) => Reply::status(Status::Errno(e.errno())),
        },
        Cmd::PortCreate => {
            done(port_arg(arg).and_then(|p| sw.create_port(p).map_err(|e| e.errno())))
        }
        Cmd::PortRemove => {
            done(port_arg(arg).and_then(|p| sw.remove_port(p).map_err(|e| e.errno())))
        }
        Cmd::PortAllocatable => done(two_args(arg).and_then(|(p, v)| {
            let port = sw.port_mut(to_port(p)?).map_err(|e| e.errno())?;
            port.allocatable = v != 0;
            Ok(())
        })),
        Cmd::PortResetcounter => {
            done(opt_port_arg(arg).and_then(|p| sw.reset_counters(p).map_err(|e| e.errno())))
        }
        Cmd::PortEpclose => match two_args(arg) {
            Ok((port, id)) => match (to_port(port), u32::try_from(id)) {
                (Ok(port), Ok(id)) => Reply {
                    data: None,
                    status: Some(Status::Success),
                    action: Action::CloseEndpoint { port, id },
                },
                _ => Reply::status(Status::Errno(errno::EINVAL)),
            },
            Err(e) => Reply::status(Status::Errno(e)),
        },
        Cmd::PortPrint => port_print(sw, host, arg, false),
        Cmd::PortAllprint => port_print(sw, host, arg, true),
        Cmd::PortStats => port_stats(sw, arg),
        Cmd::PortCapture => port_capture(sw, arg),
        Cmd::StatusJson => Reply {
            data: None,
            status: Some(Status::Success),
            action: Action::Status,
        },
        Cmd::DhcpPrint => match host.dhcp_print() {
            Some(text) => Reply::data(text, Status::Success),
            None => Reply::data(
                "DHCP server off: start the switch with --dhcp CIDR\n".into(),
                Status::Errno(errno::ENODEV),
            ),
        },
    }
}

fn help(arg: &str) -> Reply {
    let mut out = String::from(
        "COMMAND PATH       SYNTAX          HELP\n------------       --------------  ------------\n",
    );
    for info in COMMANDS.iter().filter(|i| i.path.starts_with(arg)) {
        let _ = writeln!(out, "{:<18} {:<15} {}", info.path, info.syntax, info.help);
    }
    Reply::data(out, Status::Success)
}

fn showinfo<S: BuildHasher + Clone>(sw: &Switch<S>, host: &dyn ConsoleHost) -> Reply {
    let mut out = format!("{BANNER}\n");
    let _ = writeln!(
        out,
        "pid {} MAC {} uptime {}",
        host.pid(),
        sw.config().mac,
        host.uptime_secs()
    );
    if let Some((path, mode)) = host.mgmt_socket() {
        let _ = writeln!(out, "mgmt {path} perm 0{mode:03o}");
    }
    Reply::data(out, Status::Success)
}

fn port_print<S: BuildHasher + Clone>(
    sw: &Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
    all: bool,
) -> Reply {
    let mut out = String::new();
    let wanted = match opt_port_arg(arg) {
        Ok(w) => w,
        Err(e) => return Reply::data(out, Status::Errno(e)),
    };
    if wanted.is_some_and(|w| usize::from(w) >= sw.config().numports) {
        return Reply::data(out, Status::Errno(errno::EINVAL));
    }
    let mut found = false;
    for (id, port) in sw.ports() {
        if wanted.is_some_and(|w| w != id) || !(all || port.is_active()) {
            continue;
        }
        found = true;
        write_port(&mut out, host, id, port);
    }
    if wanted.is_some() && !found {
        return Reply::data(out, Status::Errno(errno::ENXIO));
    }
    Reply::data(out, Status::Success)
}

fn write_port(out: &mut String, host: &dyn ConsoleHost, id: PortId, port: &Port) {
    let name_or_none =
        |v: Option<u32>, f: &dyn Fn(u32) -> String| v.map_or_else(|| "NONE".to_string(), f);
    let _ = writeln!(
        out,
        "Port {id:04} untagged_vlan={:04} {} - {}Unnamed Allocatable",
        port.untagged_vlan,
        if port.is_active() {
            "ACTIVE"
        } else {
            "INACTIVE"
        },
        if port.allocatable { "" } else { "NOT " },
    );
    let _ = writeln!(
        out,
        " Current User: {} Access Control: (User: {} - Group: {})",
        name_or_none(port.current_user, &|u| host.user_name(u)),
        name_or_none(port.access_user, &|u| host.user_name(u)),
        name_or_none(port.access_group, &|g| host.group_name(g)),
    );
    let c = &port.counters;
    let _ = writeln!(
        out,
        " IN:  pkts {:>10}          bytes {:>20}",
        c.in_frames, c.in_bytes
    );
    let _ = writeln!(
        out,
        " OUT: pkts {:>10}          bytes {:>20}",
        c.out_frames, c.out_bytes
    );
    for ep in &port.endpoints {
        let _ = writeln!(
            out,
            "  -- endpoint ID {:04} module {:<12}: {}",
            ep.id,
            ep.module,
            escape_control(&ep.description)
        );
    }
}

fn port_stats<S: BuildHasher + Clone>(sw: &Switch<S>, arg: &str) -> Reply {
    let mut out = String::new();
    let wanted = match opt_port_arg(arg) {
        Ok(w) => w,
        Err(e) => return Reply::data(out, Status::Errno(e)),
    };
    for (id, port) in sw.ports() {
        if wanted.is_some_and(|w| w != id) || (wanted.is_none() && !port.is_active()) {
            continue;
        }
        let c = &port.counters;
        let _ = write!(
            out,
            "Port {id:04} in_frames={} in_bytes={} out_frames={} out_bytes={}",
            c.in_frames, c.in_bytes, c.out_frames, c.out_bytes
        );
        for reason in DropReason::ALL {
            let _ = write!(out, " drop_{}={}", reason.name(), c.drops(reason));
        }
        out.push('\n');
    }
    Reply::data(out, Status::Success)
}

fn port_capture<S: BuildHasher + Clone>(sw: &Switch<S>, arg: &str) -> Reply {
    let mut words = arg.split_whitespace();
    let port = match words.next().map(port_arg) {
        Some(Ok(p)) => p,
        _ => return Reply::status(Status::Errno(errno::EINVAL)),
    };
    let count = match words.next().map(parse_c_int) {
        None => None,
        Some(Some(n)) if n > 0 => u64::try_from(n).ok(),
        Some(_) => return Reply::status(Status::Errno(errno::EINVAL)),
    };
    if words.next().is_some() {
        return Reply::status(Status::Errno(errno::EINVAL));
    }
    if sw.port(port).is_none() {
        return Reply::status(Status::Errno(errno::ENXIO));
    }
    Reply {
        data: None,
        status: Some(Status::Success),
        action: Action::Capture { port, count },
    }
}

/// Parse an integer as C's `%i`: decimal, `0x` hex or leading-0 octal.
pub fn parse_c_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(digits.get(1..)?, 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -value } else { value })
}

fn int_arg(arg: &str) -> Result<i64, u16> {
    arg.split_whitespace()
        .next()
        .and_then(parse_c_int)
        .ok_or(errno::EINVAL)
}

fn bool_arg(arg: &str) -> Result<bool, u16> {
    int_arg(arg).map(|v| v != 0)
}

fn to_port(n: i64) -> Result<PortId, u16> {
    PortId::try_from(n).map_err(|_| errno::EINVAL)
}

fn port_arg(arg: &str) -> Result<PortId, u16> {
    int_arg(arg).and_then(to_port)
}

fn opt_port_arg(arg: &str) -> Result<Option<PortId>, u16> {
    if arg.trim().is_empty() {
        Ok(None)
    } else {
        port_arg(arg).map(Some)
    }
}

fn two_args(arg: &str) -> Result<(i64, i64), u16> {
    let mut it = arg.split_whitespace().map(parse_c_int);
    match (it.next(), it.next()) {
        (Some(Some(a)), Some(Some(b))) => Ok((a, b)),
        _ => Err(errno::EINVAL),
    }
}

fn three_args(arg: &str) -> Result<(i64, i64, i64), u16> {
    let mut it = arg.split_whitespace().map(parse_c_int);
    match (it.next(), it.next(), it.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c))) => Ok((a, b, c)),
        _ => Err(errno::EINVAL),
    }
}

fn to_vlan(n: i64) -> Result<crate::fdb::Vlan, u16> {
    crate::fdb::Vlan::try_from(n).map_err(|_| errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::test_host::TestHost;
    use super::*;
    use crate::switch::{AttachRequest, Endpoint, PortRequest, SwitchConfig};
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;

    type H = BuildHasherDefault<DefaultHasher>;

    const HOST: TestHost = TestHost {
        pid: 4967,
        uptime: 83,
        mgmt: Some("/tmp/specA_x/mgmt1"),
        now: 83,
        debug: 0,
    };

    fn switch() -> Switch<H> {
        let mut sw = Switch::new(
            SwitchConfig {
                mac: "00:ff:e2:2d:37:70".parse().unwrap(),
                ..SwitchConfig::default()
            },
            H::default(),
        );
        sw.attach(AttachRequest {
            port: PortRequest::Any,
            endpoint: Endpoint {
                id: 3,
                module: "unix prog",
                description: "plug1descr user=root pid=5410".into(),
                user: 0,
            },
            groups: vec![],
        })
        .unwrap();
        sw
    }

    fn run(sw: &mut Switch<H>, line: &str) -> String {
        execute(sw, &HOST, line).render()
    }

    #[test]
    fn prefix_lookup_and_blank_lines() {
        assert!(
            matches!(parse_line("  port/printfoo"), Line::Command { info, arg: "foo" } if info.path == "port/print")
        );
        assert!(
            matches!(parse_line("\thelpxyz\n"), Line::Command { info, arg: "xyz" } if info.path == "help")
        );
        assert_eq!(parse_line("   "), Line::Empty);
        assert_eq!(parse_line("# comment"), Line::Empty);
        assert_eq!(parse_line("nosuchcmd"), Line::Unknown);
        assert_eq!(
            parse_line("port"),
            Line::Unknown,
            "menu rows have no handler"
        );
    }

    #[test]
    fn replies_are_byte_exact() {
        let mut sw = switch();
        assert_eq!(
            run(&mut sw, "nosuchcmd"),
            "1038 Function not implemented\n\nvde$ "
        );
        assert_eq!(run(&mut sw, ""), "\nvde$ ");
        assert_eq!(
            run(&mut sw, "port/showinfo"),
            "0000 DATA END WITH '.'\nNumports=32\nHUB=false\ncounters=true\n.\n1000 Success\n\nvde$ "
        );
        assert_eq!(run(&mut sw, "logout"), "9999 END OF SESSION");
        assert_eq!(execute(&mut sw, &HOST, "shutdown").action, Action::Shutdown);
    }

    #[test]
    fn port_print_matches_vde_switch() {
        let mut sw = switch();
        let want = "0000 DATA END WITH '.'\n\
Port 0001 untagged_vlan=0000 ACTIVE - Unnamed Allocatable\n \
Current User: root Access Control: (User: NONE - Group: NONE)\n \
IN:  pkts          0          bytes                    0\n \
OUT: pkts          0          bytes                    0\n  \
-- endpoint ID 0003 module unix prog   : plug1descr user=root pid=5410\n\
.\n1000 Success\n\nvde$ ";
        assert_eq!(run(&mut sw, "port/print"), want);
        assert_eq!(
            run(&mut sw, "port/print 9"),
            "0000 DATA END WITH '.'\n.\n1006 No such device or address\n\nvde$ "
        );
    }

    #[test]
    fn port_commands_and_errnos() {
        let mut sw = switch();
        assert_eq!(
            run(&mut sw, "port/create 99"),
            "1022 Invalid argument\n\nvde$ "
        );
        assert_eq!(run(&mut sw, "port/create 7"), "1000 Success\n\nvde$ ");
        assert_eq!(run(&mut sw, "port/create 7"), "1017 File exists\n\nvde$ ");
        assert!(run(&mut sw, "port/allprint 7")
            .contains("Port 0007 untagged_vlan=0000 INACTIVE - NOT Unnamed Allocatable"));
        assert_eq!(
            run(&mut sw, "port/remove 1"),
            "1098 Address already in use\n\nvde$ "
        );
        assert_eq!(
            run(&mut sw, "port/setnumports 3"),
            "1098 Address already in use\n\nvde$ "
        );
        assert!(run(&mut sw, "port/createauto")
            .starts_with("0000 DATA END WITH '.'\nPort 0002\n.\n1000 Success"));
        assert_eq!(run(&mut sw, "port/sethub 1"), "1000 Success\n\nvde$ ");
        assert!(sw.config().hub);
        assert_eq!(
            run(&mut sw, "port/sethub"),
            "1022 Invalid argument\n\nvde$ "
        );
    }

    #[test]
    fn showinfo_and_help() {
        let mut sw = switch();
        let s = run(&mut sw, "showinfo");
        assert!(
            s.starts_with("0000 DATA END WITH '.'\nVDE switch V.2.3.2\n(C) Virtual Square Team")
        );
        assert!(s.contains("\npid 4967 MAC 00:ff:e2:2d:37:70 uptime 83\nmgmt /tmp/specA_x/mgmt1 perm 0600\n.\n1000 Success"));
        let h = run(&mut sw, "help port/print");
        assert!(h.contains("port/print         [N]             print the port/endpoint table\n"));
        assert!(!h.contains("showinfo"));
    }

    #[test]
    fn port_stats_shows_drops() {
        let mut sw = switch();
        let mut out = Vec::new();
        sw.decide(crate::time::Instant::ZERO, 1, &[0u8; 5], &mut out);
        assert!(run(&mut sw, "port/stats").contains(
            "Port 0001 in_frames=0 in_bytes=0 out_frames=0 out_bytes=0 drop_runt=1 drop_oversize=0"
        ));
    }

    #[test]
    fn status_and_capture_commands() {
        let mut sw = switch();
        let r = execute(&mut sw, &HOST, "status/json");
        assert_eq!(
            (r.action, r.status),
            (Action::Status, Some(Status::Success))
        );
        let r = execute(&mut sw, &HOST, "port/capture 1 10");
        assert_eq!(
            r.action,
            Action::Capture {
                port: 1,
                count: Some(10)
            }
        );
        assert_eq!(
            r.render(),
            "1000 Success\n",
            "the stream follows, no prompt"
        );
        assert_eq!(
            execute(&mut sw, &HOST, "port/capture 0x1").action,
            Action::Capture {
                port: 1,
                count: None
            }
        );
        for bad in [
            "port/capture",
            "port/capture x",
            "port/capture 1 0",
            "port/capture 1 2 3",
        ] {
            assert_eq!(run(&mut sw, bad), "1022 Invalid argument\n\nvde$ ", "{bad}");
        }
        assert_eq!(
            run(&mut sw, "port/capture 5"),
            "1006 No such device or address\n\nvde$ "
        );
        assert_eq!(
            run(&mut sw, "status"),
            "1038 Function not implemented\n\nvde$ "
        );
        assert!(run(&mut sw, "help status").contains("status/json "));
    }

    #[test]
    fn dhcp_print_says_when_off() {
        let mut sw = switch();
        assert_eq!(
            run(&mut sw, "dhcp/print"),
            "0000 DATA END WITH '.'\nDHCP server off: start the switch with --dhcp CIDR\n.\n1019 No such device\n\nvde$ "
        );
        assert!(run(&mut sw, "help dhcp").contains("dhcp/print"));
    }

    #[test]
    fn c_integers() {
        assert_eq!(parse_c_int("0x10"), Some(16));
        assert_eq!(parse_c_int("010"), Some(8));
        assert_eq!(parse_c_int("0"), Some(0));
        assert_eq!(parse_c_int("-3"), Some(-3));
        assert_eq!(parse_c_int("x"), None);
    }
}
