//! `f2f-overlay plug` (and `vde_plug` through a symlink): attach to a VDE
//! switch (ours or vde_switch) as a client and carry its frames on
//! stdin/stdout as vde_plug's byte stream, a 2-byte big-endian length before
//! each frame (spec/vde-protocol.md §6), so that `dpipe` cables work with us
//! on either end.
//!
//! The client side of the v3 handshake (§2.1, as libvdeplug4 does it): bind a
//! datagram socket in the switch directory as `.PPPPP-SSSSS` (pid, sequence),
//! send the request on `DIR/ctl`, connect the data socket to the path the
//! switch replies with, unlink our name. The control stream then stays open
//! and idle; the switch closing it is how we learn it went away (§3.4).
//!
//! A plug is a plain 1:1 copier, so it uses three blocking threads and no
//! runtime: stdin → switch (reassembling frames with [`StreamDecoder`]),
//! switch → stdout (batching every datagram already queued into one write),
//! and a watcher on the control stream. The process ends, with status 0 as
//! vde_plug does, at end of stdin or when the switch closes the control
//! stream; a broken stdout also ends it quietly (the cable's other end left).
//!
//! vde_plug's other two forms (vdeplug4 `vde_plug.c`) work too:
//! - `URL = COMMAND [ARGS]` (or `= COMMAND` for the default switch) runs the
//!   command with pipes as its stdin and stdout and carries the same byte
//!   stream over them instead of our own stdio ([`run_command`]);
//! - `URL1 URL2` attaches to two switches and relays datagrams between them
//!   as they are, a cable with no stream in between ([`run_cable`]); it ends
//!   when either switch closes its control stream.
//!
//! Differences from vde_plug, on purpose: a stdin record longer than vde_plug
//! accepts ends the plug with an error instead of skipping the rest of that
//! read and carrying on (the stream cannot be resynchronised safely; see
//! [`StreamDecoder`]); a switch that never answers the request (vde_switch
//! does that for a busy port, §2.5) is given up on after
//! [`HANDSHAKE_TIMEOUT`] instead of hanging forever.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use f2f_core::wire::stream::{LengthPrefix, StreamDecoder, StreamError, VDE_PLUG_MAX_LEN};
use f2f_core::wire::vde::{self, Reply, Request, RequestKind};
use nix::errno::Errno;
use nix::sys::socket::MsgFlags;
use tracing::{debug, info, warn};

use crate::sys;

/// How long the switch may take to answer the request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// libvdeplug's default description.
pub const DEFAULT_DESCRIPTION: &str = "vdeplug:";
/// libvdeplug4's `MAXDESCR` less its NUL: the longest description sent.
pub const MAX_DESCRIPTION: usize = 127;
/// Mode of our data socket unless `-m` says otherwise (libvdeplug's default).
pub const DEFAULT_MODE: u32 = 0o700;
/// Directories tried for our data socket when the switch directory refuses
/// it (libvdeplug4's fallbacks).
const FALLBACK_DIRS: [&str; 3] = ["/var/run", "/var/tmp", "/tmp"];
/// Stop batching datagrams into one stdout write past this many bytes.
const OUT_BATCH: usize = 64 * 1024;
/// Receive buffer for one datagram: big enough to see an oversize one whole.
const DGRAM_BUF: usize = 65536;

/// What the plug connects the (first) switch to, from the words after the
/// options, as vde_plug reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Far {
    /// Our stdin and stdout.
    Stdio,
    /// A command's stdin and stdout (`= COMMAND ARGS`).
    Command(Vec<String>),
    /// A second switch (`URL2`).
    Switch(String),
}

/// Split vde_plug's positional words into the first URL (empty: the
/// default switch) and what it is connected to: none, `URL`, `= CMD`,
/// `URL1 URL2`, `URL = CMD ARGS…` (vdeplug4's `main`).
pub fn split_args(words: &[String]) -> Result<(&str, Far), String> {
    let command = |rest: &[String]| {
        if rest.is_empty() {
            Err("'=' must be followed by a command".to_string())
        } else {
            Ok(Far::Command(rest.to_vec()))
        }
    };
    match words {
        [] => Ok(("", Far::Stdio)),
        [url] => Ok((url.as_str(), Far::Stdio)),
        [eq, rest @ ..] if eq == "=" => Ok(("", command(rest)?)),
        [url, eq, rest @ ..] if eq == "=" => Ok((url.as_str(), command(rest)?)),
        [url, url2] => Ok((url.as_str(), Far::Switch(url2.clone()))),
        _ => Err("expected [URL], URL1 URL2, or [URL] = COMMAND [ARGS]".to_string()),
    }
}

/// Where and how to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The switch's control directory.
    pub dir: PathBuf,
    /// The port asked for (0 = port 0; None = any free port).
    pub port: Option<u32>,
    /// Mode of our data socket.
    pub mode: u32,
    /// Group of our data socket.
    pub group: Option<String>,
}

/// Why the plug could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PlugError {
    /// The URL is not one we can attach to.
    #[error("{url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The switch directory is not there.
    #[error("switch directory {dir:?}: {source} (is the switch running with -s {dir:?}?)")]
    NoSwitch {
        /// The directory.
        dir: PathBuf,
        /// Why it could not be resolved.
        source: io::Error,
    },
    /// Connecting to `DIR/ctl` failed.
    #[error("cannot connect to {path:?}: {source}")]
    Connect {
        /// The control socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// No directory would take our data socket.
    #[error("cannot bind a data socket in {dir:?} or the fallback directories: {source}")]
    Bind {
        /// The switch directory.
        dir: PathBuf,
        /// The last error.
        source: io::Error,
    },
    /// The switch closed the control stream instead of answering.
    #[error("the switch at {dir:?} refused the connection (port busy, out of range, or access denied: see the switch's log)")]
    Refused {
        /// The switch directory.
        dir: PathBuf,
    },
    /// The switch did not answer in time.
    #[error("the switch at {dir:?} did not answer within {HANDSHAKE_TIMEOUT:?} (vde_switch stays silent when the port is busy or out of range)")]
    Timeout {
        /// The switch directory.
        dir: PathBuf,
    },
    /// The reply was not a socket address.
    #[error("bad reply from the switch: {0}")]
    BadReply(vde::RequestError),
    /// Some other step of the handshake failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: String,
        /// Why.
        source: io::Error,
    },
    /// stdin carried something that cannot be a vde_plug record.
    #[error("stdin: {0}")]
    BadStream(StreamError),
}

/// Parse `DIR`, `vde://DIR` or an empty string (the default switch), with an
/// optional `[N]` / `[port=N/mode=M/group=G]` suffix. `default_dir` is used
/// when no directory is given.
pub fn parse_url(url: &str, default_dir: &Path) -> Result<Target, PlugError> {
    let bad = |reason: &str| PlugError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = match url.split_once("://") {
        Some(("vde", rest)) => rest,
        Some((scheme, _)) => {
            return Err(bad(&format!(
                "only vde:// switches are supported, not {scheme}://"
            )))
        }
        None => url,
    };
    let (path, params) = match rest.find('[') {
        Some(open) => {
            let inner = rest
                .get(open + 1..)
                .and_then(|r| r.strip_suffix(']'))
                .ok_or_else(|| bad("unterminated '[' parameter list"))?;
            (rest.get(..open).unwrap_or(""), Some(inner))
        }
        None => (rest, None),
    };
    let mut target = Target {
        dir: if path.is_empty() {
            default_dir.to_path_buf()
        } else {
            PathBuf::from(path)
        },
        port: None,
        mode: DEFAULT_MODE,
        group: None,
    };
    for param in params.into_iter().flat_map(|p| p.split('/')) {
        let (key, value) = param.split_once('=').unwrap_or(("port", param));
        match key {
            _ if value.is_empty() => {}
            "port" => {
                let port = value
                    .parse::<u32>()
                    .ok()
                    .filter(|p| *p <= vde::MAX_PORT)
                    .ok_or_else(|| bad(&format!("port {value:?} is not a port number")))?;
                target.port = Some(port);
            }
            "mode" => {
                target.mode = crate::cli::parse_octal(value).map_err(|e| bad(&e))?;
            }
            "group" => target.group = Some(value.to_string()),
            other => return Err(bad(&format!("unknown parameter {other:?}"))),
        }
    }
    Ok(target)
}

/// The description sent to the switch: `descr user=NAME pid=PID`, plus
/// `SSH=ADDR` when run from ssh, as libvdeplug4 builds it (§2.2).
pub fn description(descr: &str, user: &str, pid: u32, ssh_client: Option<&str>) -> String {
    let mut text = format!("{descr} user={user} pid={pid}");
    if let Some(addr) = ssh_client.and_then(|s| s.split_whitespace().next()) {
        text.push_str(&format!(" SSH={addr}"));
    }
    let mut cut = text.len().min(MAX_DESCRIPTION);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text
}

/// An attached plug: the open control stream and the connected data socket.
#[derive(Debug)]
pub struct Connection {
    ctl: UnixStream,
    data: UnixDatagram,
    /// The switch's data socket for us (`DIR/NNN.F`).
    pub switch_path: PathBuf,
}

/// Attach to the switch in `target` with `descr` (already completed by
/// [`description`]).
pub fn connect(target: &Target, descr: &str) -> Result<Connection, PlugError> {
    let dir = std::fs::canonicalize(&target.dir).map_err(|source| PlugError::NoSwitch {
        dir: target.dir.clone(),
        source,
    })?;
    let ctl_path = dir.join("ctl");
    let mut ctl = UnixStream::connect(&ctl_path).map_err(|source| PlugError::Connect {
        path: ctl_path.clone(),
        source,
    })?;
    let (data, own) = bind_data_socket(&dir)?;
    let result = handshake(target, descr, &dir, &mut ctl, &data, &own);
    let _ = std::fs::remove_file(&own);
    let switch_path = result?;
    Ok(Connection {
        ctl,
        data,
        switch_path,
    })
}

/// Everything between binding our socket and unlinking it.
fn handshake(
    target: &Target,
    descr: &str,
    dir: &Path,
    ctl: &mut UnixStream,
    data: &UnixDatagram,
    own: &Path,
) -> Result<PathBuf, PlugError> {
    let io_err = |what: String| move |source: io::Error| PlugError::Io { what, source };
    sys::chmod(own, target.mode).map_err(io_err(format!("chmod {own:?}")))?;
    if let Some(group) = &target.group {
        let gid = sys::resolve_group(group).map_err(|reason| PlugError::BadUrl {
            url: group.clone(),
            reason,
        })?;
        sys::chown(own, None, Some(gid)).map_err(io_err(format!("chgrp {own:?}")))?;
    }
    let (kind, port) = match target.port {
        Some(0) => (RequestKind::NewPort0, 0),
        Some(n) => (RequestKind::NewControl, n),
        None => (RequestKind::NewControl, 0),
    };
    let request = Request {
        kind,
        port,
        sock_path: own.as_os_str().as_bytes().to_vec(),
        description: descr.to_string(),
    };
    let mut bytes = Vec::with_capacity(request.buffer_len());
    request.emit(&mut bytes);
    // One write, as libvdeplug does: vde_switch parses a single read (§2.1).
    ctl.write_all(&bytes)
        .map_err(io_err("sending the request".to_string()))?;
    ctl.set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(io_err("setting a timeout".to_string()))?;
    let mut reply = [0u8; vde::SOCKADDR_LEN];
    if let Err(err) = ctl.read_exact(&mut reply) {
        return Err(match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => PlugError::Timeout {
                dir: dir.to_path_buf(),
            },
            _ => PlugError::Refused {
                dir: dir.to_path_buf(),
            },
        });
    }
    ctl.set_read_timeout(None)
        .map_err(io_err("clearing the timeout".to_string()))?;
    let reply = Reply::parse(&reply).map_err(PlugError::BadReply)?;
    let switch_path = PathBuf::from(std::ffi::OsStr::from_bytes(&reply.sock_path));
    data.connect(&switch_path)
        .map_err(io_err(format!("connecting to {switch_path:?}")))?;
    // libvdeplug does this too; it fails harmlessly unless we own the socket.
    let _ = sys::chmod(&switch_path, target.mode);
    Ok(switch_path)
}

/// Bind `DIR/.PPPPP-SSSSS`, the next sequence number on EADDRINUSE; other
/// failures fall back to libvdeplug4's other directories.
fn bind_data_socket(dir: &Path) -> Result<(UnixDatagram, PathBuf), PlugError> {
    let pid = std::process::id();
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    let dirs = std::iter::once((dir.to_path_buf(), "."))
        .chain(FALLBACK_DIRS.iter().map(|d| (PathBuf::from(d), "vde.")));
    for (base, prefix) in dirs {
        for seq in 0..1000u32 {
            let path = base.join(format!("{prefix}{:05}-{seq:05}", pid % 100_000));
            match UnixDatagram::bind(&path) {
                Ok(sock) => return Ok((sock, path)),
                Err(err) if err.kind() == io::ErrorKind::AddrInUse => last = err,
                Err(err) => {
                    last = err;
                    break;
                }
            }
        }
    }
    Err(PlugError::Bind {
        dir: dir.to_path_buf(),
        source: last,
    })
}

/// What ended the copying.
#[derive(Debug)]
enum Event {
    StdinEof,
    StdinFailed(io::Error),
    BadStream(StreamError),
    SwitchClosed,
    StdoutClosed(io::Error),
    SwitchFailed(io::Error),
}

/// Copy frames both ways until stdin ends, the switch closes the control
/// stream, or stdout breaks.
pub fn run(conn: Connection) -> Result<(), PlugError> {
    let dup = |what: &str, fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map(File::from)
            .map_err(|source| PlugError::Io {
                what: format!("duplicating {what}"),
                source,
            })
    };
    let stdin = dup("stdin", io::stdin().as_fd())?;
    let stdout = dup("stdout", io::stdout().as_fd())?;
    run_stream(conn, stdin, stdout)
}

/// `URL = COMMAND ARGS`: run the command with pipes as its stdin and stdout
/// and carry the stream over them until it closes its stdout, the switch
/// goes, or it stops reading. Its stdin is closed when we end (it sees end
/// of input, as under vde_plug); it is waited for briefly, never killed.
pub fn run_command(conn: Connection, argv: &[String]) -> Result<(), PlugError> {
    let (program, args) = argv.split_first().ok_or_else(|| PlugError::Io {
        what: "'=' without a command".to_string(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| PlugError::Io {
            what: format!("starting {program:?}"),
            source,
        })?;
    let pipes = child.stdin.take().zip(child.stdout.take());
    let result = match pipes {
        Some((to_child, from_child)) => run_stream(
            conn,
            File::from(std::os::fd::OwnedFd::from(from_child)),
            File::from(std::os::fd::OwnedFd::from(to_child)),
        ),
        None => Err(PlugError::Io {
            what: format!("the pipes of {program:?}"),
            source: io::Error::from(io::ErrorKind::BrokenPipe),
        }),
    };
    for _ in 0..20 {
        if !matches!(child.try_wait(), Ok(None)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    result
}

/// A copying loop run on its own thread, and its thread's name.
type Job<'a> = (&'a str, Box<dyn FnOnce() -> Event + Send>);

/// Run each job on its own thread; the first to finish says why we stop.
fn first_to_end(jobs: Vec<Job<'_>>) -> Result<Event, PlugError> {
    let (tx, rx) = mpsc::channel();
    for (name, job) in jobs {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _ = tx.send(job());
            })
            .map_err(|source| PlugError::Io {
                what: format!("starting thread {name}"),
                source,
            })?;
    }
    Ok(rx.recv().unwrap_or(Event::SwitchClosed))
}

fn clone_data(conn: &Connection) -> Result<UnixDatagram, PlugError> {
    conn.data.try_clone().map_err(|source| PlugError::Io {
        what: "cloning the data socket".to_string(),
        source,
    })
}

/// Copy frames between the switch and a byte stream (`input` is read for
/// records to send, `output` gets the received ones) until the stream ends,
/// the switch closes the control stream, or `output` breaks.
fn run_stream(conn: Connection, input: File, output: File) -> Result<(), PlugError> {
    let data_in = clone_data(&conn)?;
    let data_out = conn.data;
    let mut ctl = conn.ctl;
    let event = first_to_end(vec![
        ("stdin", Box::new(move || stdin_to_switch(input, &data_out))),
        (
            "stdout",
            Box::new(move || switch_to_stdout(&data_in, output)),
        ),
        ("ctl", Box::new(move || watch_ctl(&mut ctl))),
    ])?;
    finish(event)
}

/// `URL1 URL2`: relay every datagram of each switch to the other, unchanged,
/// until either closes its control stream.
pub fn run_cable(a: Connection, b: Connection) -> Result<(), PlugError> {
    let (a_in, b_in) = (clone_data(&a)?, clone_data(&b)?);
    let (a_out, b_out) = (a.data, b.data);
    let (mut a_ctl, mut b_ctl) = (a.ctl, b.ctl);
    let event = first_to_end(vec![
        ("a-to-b", Box::new(move || relay(&a_in, &b_out))),
        ("b-to-a", Box::new(move || relay(&b_in, &a_out))),
        ("ctl-a", Box::new(move || watch_ctl(&mut a_ctl))),
        ("ctl-b", Box::new(move || watch_ctl(&mut b_ctl))),
    ])?;
    finish(event)
}

/// Datagrams from one switch to the other, as they are (blocking both ways,
/// so a slow switch slows the cable instead of losing frames here).
fn relay(from: &UnixDatagram, to: &UnixDatagram) -> Event {
    let mut buf = vec![0u8; DGRAM_BUF];
    loop {
        match from.recv(&mut buf) {
            Ok(n) => {
                let frame = buf.get(..n).unwrap_or(&[]);
                if n > 0 {
                    if let Err(err) = to.send(frame) {
                        debug!(%err, "relaying to the other switch failed");
                    }
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Event::SwitchFailed(err),
        }
    }
}

/// The outcome of a plug, from the event that ended it.
fn finish(event: Event) -> Result<(), PlugError> {
    match event {
        Event::StdinEof => {
            info!("end of stdin");
            Ok(())
        }
        Event::SwitchClosed => {
            info!("the switch closed the connection");
            Ok(())
        }
        Event::StdoutClosed(err) => {
            info!(%err, "stdout closed");
            Ok(())
        }
        Event::BadStream(err) => Err(PlugError::BadStream(err)),
        Event::StdinFailed(source) => Err(PlugError::Io {
            what: "reading stdin".to_string(),
            source,
        }),
        Event::SwitchFailed(source) => Err(PlugError::Io {
            what: "receiving from the switch".to_string(),
            source,
        }),
    }
}

/// stdin's 2-byte length records → one datagram each.
fn stdin_to_switch(mut stdin: File, data: &UnixDatagram) -> Event {
    let mut decoder = StreamDecoder::new(LengthPrefix::U16, VDE_PLUG_MAX_LEN);
    loop {
        match stdin.read(decoder.spare()) {
            Ok(0) => return Event::StdinEof,
            Ok(n) => decoder.commit(n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Event::StdinFailed(err),
        }
        while let Some(frame) = decoder.next_frame() {
            match frame {
                // Blocking send: a full switch socket slows the sender down
                // instead of dropping. A switch that is gone shows up on the
                // control stream, so a failed send is only logged.
                Ok(frame) => {
                    if let Err(err) = data.send(frame) {
                        debug!(%err, "send to the switch failed");
                    }
                }
                Err(err) => return Event::BadStream(err),
            }
        }
    }
}

/// Datagrams from the switch → 2-byte length records on stdout, every
/// datagram already waiting batched into one write.
fn switch_to_stdout(data: &UnixDatagram, mut stdout: File) -> Event {
    // Allocated and zeroed once: records are received in place after room
    // for their length, so nothing is copied or cleared per frame.
    let mut out = vec![0u8; OUT_BATCH + 2 + DGRAM_BUF];
    let fd = data.as_raw_fd();
    loop {
        let mut len = 0;
        let mut flags = MsgFlags::empty();
        while len < OUT_BATCH {
            let body = out.get_mut(len + 2..len + 2 + DGRAM_BUF).unwrap_or(&mut []);
            let n = match nix::sys::socket::recv(fd, body, flags) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                Err(_) if len > 0 => break,
                Err(errno) => return Event::SwitchFailed(errno.into()),
            };
            flags = MsgFlags::MSG_DONTWAIT;
            // Zero-length datagrams carry nothing, and vde_plug never writes
            // a record longer than VDE_PLUG_MAX_LEN (its reader refuses them).
            let Ok(n16) = u16::try_from(n) else { continue };
            if n == 0 || n > VDE_PLUG_MAX_LEN {
                continue;
            }
            if let Some(h) = out.get_mut(len..len + 2) {
                h.copy_from_slice(&n16.to_be_bytes());
            }
            len += 2 + n;
        }
        if len > 0 {
            if let Err(err) = stdout.write_all(out.get(..len).unwrap_or(&[])) {
                return Event::StdoutClosed(err);
            }
        }
    }
}

/// The switch closing the control stream is the end of the connection.
fn watch_ctl(ctl: &mut UnixStream) -> Event {
    let mut buf = [0u8; 256];
    loop {
        match ctl.read(&mut buf) {
            Ok(0) => return Event::SwitchClosed,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                warn!(%err, "control stream failed");
                return Event::SwitchClosed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(url: &str) -> Result<Target, PlugError> {
        parse_url(url, Path::new("/var/run/vde.ctl"))
    }

    #[test]
    fn urls_like_libvdeplug() {
        let plain = t("/tmp/sw").unwrap();
        assert_eq!(plain.dir, PathBuf::from("/tmp/sw"));
        assert_eq!((plain.port, plain.mode, plain.group), (None, 0o700, None));
        assert_eq!(t("vde:///tmp/sw").unwrap().dir, PathBuf::from("/tmp/sw"));
        assert_eq!(t("vde:///tmp/sw[5]").unwrap().port, Some(5));
        assert_eq!(t("/tmp/sw[port=0]").unwrap().port, Some(0));
        let all = t("vde:///tmp/sw[port=7/mode=0770/group=kvm]").unwrap();
        assert_eq!(
            (all.port, all.mode, all.group.as_deref()),
            (Some(7), 0o770, Some("kvm"))
        );
        assert_eq!(t("").unwrap().dir, PathBuf::from("/var/run/vde.ctl"));
        assert_eq!(t("vde://").unwrap().dir, PathBuf::from("/var/run/vde.ctl"));
        assert_eq!(t("[3]").unwrap().port, Some(3));
        assert_eq!(t("/tmp/sw[]").unwrap().port, None);
    }

    #[test]
    fn bad_urls_say_why() {
        let msg = |u: &str| t(u).unwrap_err().to_string();
        assert!(
            msg("tap://tap0").contains("only vde://"),
            "{}",
            msg("tap://tap0")
        );
        assert!(msg("/tmp/sw[5").contains("unterminated"));
        assert!(msg("/tmp/sw[x]").contains("not a port number"));
        assert!(msg("/tmp/sw[port=99999999]").contains("not a port number"));
        assert!(msg("/tmp/sw[mode=999]").contains("octal"));
        assert!(msg("/tmp/sw[speed=9]").contains("unknown parameter"));
    }

    #[test]
    fn positional_words_like_vde_plug() {
        let w = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cmd = |a: &[&str]| Far::Command(w(a));
        let sw = w(&["/a", "/b"]);
        assert_eq!(split_args(&sw), Ok(("/a", Far::Switch("/b".into()))));
        let eq = w(&["=", "ssh", "-p", "22", "h", "vde_plug"]);
        assert_eq!(
            split_args(&eq),
            Ok(("", cmd(&["ssh", "-p", "22", "h", "vde_plug"])))
        );
        let url_eq = w(&["/a", "=", "vde_plug", "/b"]);
        assert_eq!(split_args(&url_eq), Ok(("/a", cmd(&["vde_plug", "/b"]))));
        assert_eq!(split_args(&w(&["/a"])), Ok(("/a", Far::Stdio)));
        assert_eq!(split_args(&[]), Ok(("", Far::Stdio)));
        assert!(split_args(&w(&["/a", "="])).is_err());
        assert!(split_args(&w(&["/a", "/b", "/c"])).is_err());
    }

    #[test]
    fn description_like_libvdeplug4() {
        assert_eq!(
            description("vdeplug:", "root", 5410, None),
            "vdeplug: user=root pid=5410"
        );
        assert_eq!(
            description("X", "ann", 1, Some("10.0.0.9 5555 22")),
            "X user=ann pid=1 SSH=10.0.0.9"
        );
        let long = description(&"é".repeat(100), "root", 1, None);
        assert!(long.len() <= MAX_DESCRIPTION);
    }
}
