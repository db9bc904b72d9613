//! The management console on the `-M` socket and on a terminal's stdin
//! (spec/vde-console.md §2): banner, prompt, one command per line, replies
//! rendered by [`f2f_core::console`].
//!
//! Sessions are independent tasks; a command holds the switch lock only while
//! it runs, so a console client that floods, stalls or vanishes never holds up
//! forwarding. A line longer than [`MAX_PENDING`] bytes without a newline is
//! answered as an invalid command and discarded.
//!
//! Two of our own commands need the shell: `status/json` (the snapshot gets
//! the sections the shell owns, e.g. running captures) and `port/capture`,
//! which turns the session into a capture stream ([`f2f_core::capture`]) until
//! the count is reached or the client sends anything; the stdin console
//! cannot stream and answers `EOPNOTSUPP`.

use std::path::PathBuf;
use std::sync::Arc;

use f2f_core::capture::Message;
use f2f_core::console::{self, Action, ConsoleHost, Reply, Status};
use f2f_core::status::Snapshot;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, warn};

use crate::capture::{CaptureGuard, Captured};
use crate::datapath::Datapath;
use crate::ports::dhcp::DhcpPort;
use crate::ports::vde::VdeServer;
use crate::sys;

/// Most bytes buffered for one unfinished line.
pub const MAX_PENDING: usize = 4096;

/// What the console needs from the running switch.
#[derive(Debug)]
pub struct Console {
    datapath: Arc<Datapath>,
    vde: Arc<VdeServer>,
    mgmt: Option<(PathBuf, u32)>,
    ctl: (PathBuf, u32),
    shutdown: Arc<Notify>,
    dhcp: Option<Arc<DhcpPort>>,
}

impl Console {
    /// A console for the switch in `datapath`; `shutdown` is notified by the
    /// `shutdown` command.
    pub fn new(
        datapath: Arc<Datapath>,
        vde: Arc<VdeServer>,
        mgmt: Option<(PathBuf, u32)>,
        ctl: (PathBuf, u32),
        shutdown: Arc<Notify>,
        dhcp: Option<Arc<DhcpPort>>,
    ) -> Arc<Console> {
        Arc::new(Console {
            datapath,
            vde,
            mgmt,
            ctl,
            shutdown,
            dhcp,
        })
    }

    /// Run one line.
    pub fn execute(&self, line: &str) -> Reply {
        let host = Host { console: self };
        let mut sw = self.datapath.lock();
        let mut reply = console::execute(&mut sw, &host, line);
        if reply.action == Action::Status {
            let mut snapshot = Snapshot::new(&sw, &host, self.datapath.now());
            drop(sw);
            snapshot.captures = self.datapath.captures().stats();
            snapshot.dhcp = self.dhcp.as_ref().map(|d| d.status(self.datapath.now()));
            reply.data = Some(format!("{}\n", snapshot.to_json_line()));
        }
        reply
    }

    /// Serve management connections forever.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let me = Arc::clone(&self);
                    tokio::spawn(async move {
                        if let Err(err) = me.session(stream).await {
                            debug!(%err, "management session ended");
                        }
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
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = rd.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                match self.answer(&mut wr, &line, true).await? {
                    Next::Continue => {}
                    Next::End => return Ok(()),
                    Next::Capture(guard, frames, count) => {
                        return stream_capture(&mut rd, &mut wr, &guard, frames, count).await;
                    }
                }
            }
            if pending.len() > MAX_PENDING {
                warn!(bytes = pending.len(), "management line too long, discarded");
                pending.clear();
                let reply = Reply::render(&console::execute_invalid());
                wr.write_all(reply.as_bytes()).await?;
            }
        }
    }

    /// Answer one line and say what the session does next. `can_stream`:
    /// whether this session may turn into a capture stream.
    async fn answer<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        line: &[u8],
        can_stream: bool,
    ) -> std::io::Result<Next<'_>> {
        let text = String::from_utf8_lossy(line);
        let mut reply = self.execute(&text);
        if let Action::CloseEndpoint { port, id } = reply.action {
            if !self.vde.close_endpoint(port, id) {
                reply.status = Some(Status::Errno(console::errno::ENXIO));
            }
        }
        let mut capture = None;
        if let Action::Capture { port, count } = reply.action {
            if can_stream {
                // Start before answering, so no frame after the reply is missed.
                capture = Some((self.datapath.captures().start(port), count, port));
            } else {
                reply.status = Some(Status::Errno(console::errno::EOPNOTSUPP));
            }
        }
        out.write_all(reply.render().as_bytes()).await?;
        out.flush().await?;
        Ok(match reply.action {
            Action::None | Action::CloseEndpoint { .. } | Action::Status => Next::Continue,
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

    /// The console on stdin/stdout, for a switch started on a terminal. Ends
    /// the switch on end of input, as vde_switch does.
    pub async fn stdin_console(self: Arc<Self>) {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut out = tokio::io::stdout();
        while let Ok(Some(line)) = lines.next_line().await {
            if !matches!(
                self.answer(&mut out, line.as_bytes(), false).await,
                Ok(Next::Continue)
            ) {
                break;
            }
        }
        tracing::info!("EOF on stdin, cleaning up and exiting");
        self.shutdown.notify_one();
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
