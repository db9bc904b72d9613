//! The management console on the `-M` socket and on a terminal's stdin
//! (spec/vde-console.md §2): banner, prompt, one command per line, replies
//! rendered by [`f2f_core::console`].
//!
//! Sessions are independent tasks; a command holds the switch lock only while
//! it runs, so a console client that floods, stalls or vanishes never holds up
//! forwarding. A line longer than [`MAX_PENDING`] bytes without a newline is
//! answered as an invalid command and discarded.

use std::path::PathBuf;
use std::sync::Arc;

use f2f_core::console::{self, Action, ConsoleHost, Reply, Status};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tracing::{debug, warn};

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
        console::execute(&mut sw, &host, line)
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
                if !self.answer(&mut wr, &line).await? {
                    return Ok(());
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

    /// Answer one line; false when the session must end.
    async fn answer<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        line: &[u8],
    ) -> std::io::Result<bool> {
        let text = String::from_utf8_lossy(line);
        let mut reply = self.execute(&text);
        if let Action::CloseEndpoint { port, id } = reply.action {
            if !self.vde.close_endpoint(port, id) {
                reply.status = Some(Status::Errno(console::errno::ENXIO));
            }
        }
        out.write_all(reply.render().as_bytes()).await?;
        out.flush().await?;
        match reply.action {
            Action::None | Action::CloseEndpoint { .. } => Ok(true),
            Action::Logout => Ok(false),
            Action::Shutdown => {
                self.shutdown.notify_one();
                Ok(false)
            }
        }
    }

    /// The console on stdin/stdout, for a switch started on a terminal. Ends
    /// the switch on end of input, as vde_switch does.
    pub async fn stdin_console(self: Arc<Self>) {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut out = tokio::io::stdout();
        while let Ok(Some(line)) = lines.next_line().await {
            if !matches!(self.answer(&mut out, line.as_bytes()).await, Ok(true)) {
                break;
            }
        }
        tracing::info!("EOF on stdin, cleaning up and exiting");
        self.shutdown.notify_one();
    }
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
