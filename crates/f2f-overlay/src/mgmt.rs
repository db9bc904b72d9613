//! The management console on the `-M` socket and on a terminal's stdin
//! (spec/vde-console.md §2): banner, prompt, one command per line, replies
//! rendered by [`f2f_core::console`].
//!
//! Sessions are independent tasks; a command holds the switch lock only while
//! it runs, so a console client that floods, stalls or vanishes never holds up
//! forwarding.
//!
//! vde_switch takes each `read` of a session as one command, newline or not,
//! and `vdeterm` relies on it: it sends its commands without a newline. So
//! here every newline ends a command, and so does the end of what one read
//! returned ([`READ_CHUNK`] bytes at most): a client sending several lines at
//! once gets each answered, and one sending a bare command gets it run.
//!
//! Scripts (`load PATH`, and `-f/--rcfile` at start) are read here, outside
//! the switch lock, then run line by line as vde_switch's `runscript` does:
//! `vde[PATH]: LINE` before each reply, `logout`/`shutdown` ignored. Only
//! regular files up to [`MAX_SCRIPT`] bytes are read (a FIFO or a device
//! would block the console), and `load` nests at most
//! [`console::MAX_LOAD_DEPTH`] deep.
//!
//! `debug/add` subscribes the session to vde_switch's debug events: the
//! session then also waits on its [`DebugFeed`] and writes each line as it
//! comes, between replies (never inside one). Inside a script it answers
//! `EOPNOTSUPP`.
//!
//! Two of our own commands need the shell: `status/json` (the snapshot gets
//! the sections the shell owns, e.g. running captures) and `port/capture`,
//! which turns the session into a capture stream ([`f2f_core::capture`]) until
//! the count is reached or the client sends anything; the stdin console
//! cannot stream and answers `EOPNOTSUPP`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use f2f_core::capture::Message;
use f2f_core::console::{self, errno, Action, ConsoleHost, Reply, Status};
use f2f_core::status::Snapshot;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, warn};

use crate::capture::{CaptureGuard, Captured};
use crate::datapath::Datapath;
use crate::debugout::DebugFeed;
use crate::limit::Limit;
use crate::ports::dhcp::DhcpPort;
use crate::ports::link::Links;
use crate::ports::vde::VdeServer;
use crate::sys;

/// Default for `--max-consoles`: management sessions open at once.
pub const DEFAULT_MAX_SESSIONS: usize = 64;
/// What a client over `--max-consoles` reads before its connection closes.
const REFUSED: &[u8] = b"too many management console sessions are open; try again later\n";
/// Most bytes one read of a session takes (vde_switch reads 128).
pub const READ_CHUNK: usize = 4096;
/// Largest script `load` and `-f` read.
pub const MAX_SCRIPT: u64 = 1 << 20;
/// errno for a script over [`MAX_SCRIPT`] (`EFBIG`, "File too large").
const EFBIG: u16 = 27;
/// errno for a directory given as a script (`EISDIR`).
const EISDIR: u16 = 21;

/// Who reads a script's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptMode {
    /// `load` on a console: the output goes to the session.
    Session,
    /// `-f` at start: nobody sees the output, so failing lines are logged.
    Startup,
}

/// The services beside the switch whose state the console reports.
#[derive(Debug)]
pub struct Services {
    /// The built-in DHCP server, if `--dhcp` runs one.
    pub dhcp: Option<Arc<DhcpPort>>,
    /// The switch's links.
    pub links: Arc<Links>,
    /// A room beside the switch, when `join` runs it.
    pub extra: Option<Arc<dyn StatusExtra>>,
}

/// What the console needs from the running switch.
#[derive(Debug)]
pub struct Console {
    datapath: Arc<Datapath>,
    links: Arc<Links>,
    vde: Arc<VdeServer>,
    mgmt: Option<(PathBuf, u32)>,
    ctl: (PathBuf, u32),
    shutdown: Arc<Notify>,
    dhcp: Option<Arc<DhcpPort>>,
    sessions: Limit,
    extra: Option<Arc<dyn StatusExtra>>,
}

/// A part of the process beside the switch (a room) that adds its own
/// sections to the status snapshot.
pub trait StatusExtra: Send + Sync + std::fmt::Debug {
    /// Fill in this part's sections of `snapshot`.
    fn fill(&self, snapshot: &mut Snapshot);
}

impl Console {
    /// A console for the switch in `datapath`; `shutdown` is notified by the
    /// `shutdown` command; at most `max_sessions` socket sessions at once.
    pub fn new(
        datapath: Arc<Datapath>,
        vde: Arc<VdeServer>,
        mgmt: Option<(PathBuf, u32)>,
        ctl: (PathBuf, u32),
        shutdown: Arc<Notify>,
        services: Services,
        max_sessions: usize,
    ) -> Arc<Console> {
        let Services { dhcp, links, extra } = services;
        Arc::new(Console {
            sessions: Limit::new(
                "management console sessions open",
                "raise it with --max-consoles",
                max_sessions,
            ),
            dhcp,
            extra,
            datapath,
            links,
            vde,
            mgmt,
            ctl,
            shutdown,
        })
    }

    /// Run one line for a session subscribed to the debug categories in
    /// `debug_mask`.
    pub fn execute(&self, line: &str, debug_mask: u16) -> Reply {
        let host = Host {
            console: self,
            debug_mask,
        };
        let mut sw = self.datapath.lock();
        let mut reply = console::execute(&mut sw, &host, line);
        if reply.action == Action::Status {
            let mut snapshot = Snapshot::new(&sw, &host, self.datapath.now());
            drop(sw);
            snapshot.captures = self.datapath.captures().stats();
            snapshot.links = self.links.statuses();
            snapshot.dhcp = self.dhcp.as_ref().map(|d| d.status(self.datapath.now()));
            if let Some(extra) = &self.extra {
                extra.fill(&mut snapshot);
            }
            reply.data = Some(format!("{}\n", snapshot.to_json_line()));
        }
        reply
    }

    /// Serve management connections forever.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let Some(slot) = self.sessions.try_enter() else {
                        // The socket buffer takes this short note without blocking.
                        let _ = stream.try_write(REFUSED);
                        continue;
                    };
                    let me = Arc::clone(&self);
                    tokio::spawn(async move {
                        if let Err(err) = me.session(stream).await {
                            debug!(%err, "management session ended");
                        }
                        drop(slot);
                    });
                }
                Err(err) => {
                    warn!(%err, "accept on management socket failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn session(&self, stream: UnixStream) -> std::io::Result<()> {
        let (mut rd, mut wr) = stream.into_split();
        wr.write_all(console::BANNER.as_bytes()).await?;
        wr.write_all(console::PROMPT.as_bytes()).await?;
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut feed = None;
        loop {
            let n = tokio::select! {
                r = rd.read(&mut chunk) => r?,
                Some(line) = next_debug_line(&mut feed) => {
                    wr.write_all(line.as_bytes()).await?;
                    continue;
                }
            };
            if n == 0 {
                return Ok(());
            }
            let got = chunk.get(..n).unwrap_or_default();
            for line in got.split_inclusive(|b| *b == b'\n') {
                match self.answer(&mut wr, line, true, &mut feed).await? {
                    Next::Continue => {}
                    Next::End => return Ok(()),
                    Next::Capture(guard, frames, count) => {
                        return stream_capture(&mut rd, &mut wr, &guard, frames, count).await;
                    }
                }
            }
        }
    }

    /// Answer one line and say what the session does next. `can_stream`:
    /// whether this session may turn into a capture stream; `feed`: its
    /// debug subscription, made on the first `debug/add`.
    async fn answer<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        line: &[u8],
        can_stream: bool,
        feed: &mut Option<DebugFeed>,
    ) -> std::io::Result<Next<'_>> {
        let text = String::from_utf8_lossy(line);
        let mut reply = self.execute(&text, feed.as_ref().map_or(0, DebugFeed::mask));
        if let Action::Debug { mask } = reply.action {
            feed.get_or_insert_with(|| DebugFeed::new(Arc::clone(&self.datapath)))
                .set_mask(mask);
        }
        let mut script = String::new();
        self.perform(&mut reply, 0, ScriptMode::Session, &mut script);
        let mut capture = None;
        if let Action::Capture { port, count } = reply.action {
            if can_stream {
                // Start before answering, so no frame after the reply is missed.
                capture = Some((self.datapath.captures().start(port), count, port));
            } else {
                reply.status = Some(Status::Errno(console::errno::EOPNOTSUPP));
            }
        }
        // Events the command itself caused come before its reply, as in
        // vde_switch (which writes them while the command runs).
        let mut sent = String::new();
        while let Some(line) = feed.as_mut().and_then(DebugFeed::try_next_line) {
            sent.push_str(&line);
        }
        sent.push_str(&script);
        sent.push_str(&reply.render());
        out.write_all(sent.as_bytes()).await?;
        out.flush().await?;
        Ok(match reply.action {
            Action::None
            | Action::CloseEndpoint { .. }
            | Action::Status
            | Action::Load { .. }
            | Action::Debug { .. } => Next::Continue,
            Action::Capture { .. } => match capture {
                Some(((guard, frames), count, port)) => {
                    debug!(port, ?count, "management session streams a capture");
                    Next::Capture(guard, frames, count)
                }
                None => Next::Continue,
            },
            Action::Logout => Next::End,
            Action::Shutdown => {
                self.shutdown.notify_one();
                Next::End
            }
        })
    }

    /// Carry out what a reply asks of the shell (close an endpoint, run a
    /// script) and set its status; a script's output goes to `out`.
    fn perform(&self, reply: &mut Reply, depth: usize, mode: ScriptMode, out: &mut String) {
        match &reply.action {
            Action::CloseEndpoint { port, id } => {
                if !self.vde.close_endpoint(*port, *id) {
                    reply.status = Some(Status::Errno(errno::ENXIO));
                }
            }
            Action::Load { path } => {
                let result = if depth >= console::MAX_LOAD_DEPTH {
                    Err(errno::ELOOP)
                } else {
                    read_script(Path::new(path))
                        .map(|text| self.run_script(path, &text, depth + 1, mode, out))
                };
                reply.status = Some(result.map_or_else(Status::Errno, |()| Status::Success));
            }
            // A capture cannot stream, nor a subscription start, in the
            // middle of a script.
            Action::Capture { .. } | Action::Debug { .. } if depth > 0 => {
                reply.status = Some(Status::Errno(errno::EOPNOTSUPP));
            }
            Action::None
            | Action::Logout
            | Action::Shutdown
            | Action::Status
            | Action::Capture { .. }
            | Action::Debug { .. } => {}
        }
    }

    /// Run the lines of a script read from `path`, appending what a console
    /// shows to `out`.
    pub fn run_script(
        &self,
        path: &str,
        text: &str,
        depth: usize,
        mode: ScriptMode,
        out: &mut String,
    ) {
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        for (n, line) in lines.into_iter().enumerate() {
            out.push_str(&console::script_echo(path, line));
            let mut reply = self.execute(line, 0);
            self.perform(&mut reply, depth, mode, out);
            match reply.action {
                // vde_switch ignores logout and shutdown in scripts.
                Action::Logout | Action::Shutdown => {
                    if mode == ScriptMode::Startup {
                        warn!(
                            script = path,
                            line = n + 1,
                            command = line,
                            "ignored in a script"
                        );
                    }
                }
                _ => out.push_str(&reply.render_body()),
            }
            if let (ScriptMode::Startup, Some(Status::Errno(e))) = (mode, reply.status) {
                warn!(
                    script = path,
                    line = n + 1,
                    command = line,
                    "failed: 1{e:03} {}",
                    console::strerror(e)
                );
            }
        }
    }

    /// The console on stdin/stdout, for a switch started on a terminal. Ends
    /// the switch on end of input, as vde_switch does.
    pub async fn stdin_console(self: Arc<Self>) {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut out = tokio::io::stdout();
        let mut feed = None;
        loop {
            let line = tokio::select! {
                l = lines.next_line() => l,
                Some(debug) = next_debug_line(&mut feed) => {
                    if out.write_all(debug.as_bytes()).await.and(out.flush().await).is_err() {
                        break;
                    }
                    continue;
                }
            };
            let Ok(Some(line)) = line else {
                break;
            };
            if !matches!(
                self.answer(&mut out, line.as_bytes(), false, &mut feed)
                    .await,
                Ok(Next::Continue)
            ) {
                break;
            }
        }
        tracing::info!("EOF on stdin, cleaning up and exiting");
        self.shutdown.notify_one();
    }
}

/// The next debug line of a session's subscription; never, without one.
async fn next_debug_line(feed: &mut Option<DebugFeed>) -> Option<String> {
    match feed {
        Some(f) => f.next_line().await,
        None => std::future::pending().await,
    }
}

/// What a session does after a reply.
enum Next<'a> {
    /// Read the next line.
    Continue,
    /// Close the session.
    End,
    /// Stream the capture, then close.
    Capture(CaptureGuard<'a>, mpsc::Receiver<Captured>, Option<u64>),
}

/// Most captured frames written to the client per write call.
const CAPTURE_BATCH: usize = 64;

/// Send captured frames as [`Message`]s until `count` frames were sent, the
/// client sends anything (its stop), or the client goes away; then the
/// [`Message::End`] with the totals. Dropping `guard` stops the capture.
async fn stream_capture<R, W>(
    rd: &mut R,
    wr: &mut W,
    guard: &CaptureGuard<'_>,
    mut frames: mpsc::Receiver<Captured>,
    count: Option<u64>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let limit = count.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut buf = Vec::new();
    let mut batch = Vec::with_capacity(CAPTURE_BATCH);
    let mut stop = [0u8; 64];
    while sent < limit {
        tokio::select! {
            n = frames.recv_many(&mut batch, CAPTURE_BATCH) => {
                if n == 0 {
                    break;
                }
                buf.clear();
                for c in batch.drain(..) {
                    if sent == limit {
                        break;
                    }
                    Message::Frame {
                        ts_micros: c.ts_micros,
                        direction: c.direction,
                        frame: &c.frame,
                    }
                    .emit(&mut buf);
                    sent += 1;
                }
                wr.write_all(&buf).await?;
            }
            r = rd.read(&mut stop) => match r {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => break,
            },
        }
    }
    buf.clear();
    Message::End {
        frames: sent,
        dropped: guard.tap.dropped(),
    }
    .emit(&mut buf);
    wr.write_all(&buf).await?;
    wr.flush().await?;
    wr.shutdown().await
}

struct Host<'a> {
    console: &'a Console,
    debug_mask: u16,
}

impl ConsoleHost for Host<'_> {
    fn pid(&self) -> u32 {
        std::process::id()
    }
    fn uptime_secs(&self) -> u64 {
        self.console.datapath.clock().uptime_secs()
    }
    fn mgmt_socket(&self) -> Option<(String, u32)> {
        self.console
            .mgmt
            .as_ref()
            .map(|(p, m)| (p.display().to_string(), *m))
    }
    fn ctl_dir(&self) -> (String, u32) {
        (self.console.ctl.0.display().to_string(), self.console.ctl.1)
    }
    fn user_name(&self, uid: u32) -> String {
        sys::user_name(uid)
    }
    fn group_name(&self, gid: u32) -> String {
        sys::group_name(gid)
    }
    fn dhcp_print(&self) -> Option<String> {
        let now = self.console.datapath.now();
        self.console.dhcp.as_ref().map(|d| d.render_print(now))
    }
    fn debug_mask(&self) -> u16 {
        self.debug_mask
    }
    fn user_by_name(&self, name: &str) -> Option<u32> {
        sys::uid_by_name(name)
    }
    fn group_by_name(&self, name: &str) -> Option<u32> {
        sys::gid_by_name(name)
    }
    fn now(&self) -> f2f_core::time::Instant {
        self.console.datapath.now()
    }
}

/// Read a script for `load` or `-f`: a regular file of at most
/// [`MAX_SCRIPT`] bytes; the errno vde_switch would report otherwise.
pub fn read_script(path: &Path) -> Result<String, u16> {
    let io_errno = |e: std::io::Error| {
        e.raw_os_error()
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(errno::EINVAL)
    };
    let meta = std::fs::metadata(path).map_err(io_errno)?;
    if meta.is_dir() {
        return Err(EISDIR);
    }
    if !meta.is_file() {
        return Err(errno::EINVAL);
    }
    if meta.len() > MAX_SCRIPT {
        return Err(EFBIG);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SCRIPT).read_to_end(&mut bytes))
        .map_err(io_errno)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Captures;
    use f2f_core::capture::Direction;

    /// Decode every message in `bytes`.
    fn messages(bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Ok(Some((m, used))) = Message::decode(rest) {
            out.push(match m {
                Message::Frame {
                    direction, frame, ..
                } => format!("{direction:?}{}", frame.len()),
                Message::End { frames, dropped } => format!("End{frames}/{dropped}"),
            });
            rest = &rest[used..];
        }
        assert!(rest.is_empty(), "trailing bytes {rest:?}");
        out
    }

    #[tokio::test]
    async fn capture_stream_stops_at_count() {
        let caps = Captures::default();
        let (guard, rx) = caps.start(1);
        caps.offer(1, Direction::In, &[0; 60]);
        caps.offer(1, Direction::Out, &[0; 64]);
        caps.offer(1, Direction::In, &[0; 70]);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let (mut rd, mut wr) = tokio::io::split(server);
        stream_capture(&mut rd, &mut wr, &guard, rx, Some(2))
            .await
            .unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(messages(&got), ["In60", "Out64", "End2/0"]);
    }

    #[tokio::test]
    async fn capture_stream_stops_when_the_client_asks() {
        let caps = Captures::default();
        let (guard, rx) = caps.start(3);
        caps.offer(3, Direction::Out, &[0; 60]);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let (mut rd, mut wr) = tokio::io::split(server);
        let mut first = [0u8; 4 + 10 + 60];
        let streaming = stream_capture(&mut rd, &mut wr, &guard, rx, None);
        let stopper = async {
            client.read_exact(&mut first).await.unwrap();
            client.write_all(b"\n").await.unwrap();
        };
        let (r, ()) = tokio::join!(streaming, stopper);
        r.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(messages(&first), ["Out60"]);
        assert_eq!(messages(&rest), ["End1/0"]);
    }
}
