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

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use f2f_core::console::{self, errno, Action, ConsoleHost, Reply, Status};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::datapath::Datapath;
use crate::ports::vde::VdeServer;
use crate::sys;

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

/// What the console needs from the running switch.
#[derive(Debug)]
pub struct Console {
    datapath: Arc<Datapath>,
    vde: Arc<VdeServer>,
    mgmt: Option<(PathBuf, u32)>,
    ctl: (PathBuf, u32),
    shutdown: Arc<Notify>,
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
    ) -> Arc<Console> {
        Arc::new(Console {
            datapath,
            vde,
            mgmt,
            ctl,
            shutdown,
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
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            let n = rd.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            let got = chunk.get(..n).unwrap_or_default();
            for line in got.split_inclusive(|b| *b == b'\n') {
                if !self.answer(&mut wr, line).await? {
                    return Ok(());
                }
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
        let mut script = String::new();
        self.perform(&mut reply, 0, ScriptMode::Session, &mut script);
        script.push_str(&reply.render());
        out.write_all(script.as_bytes()).await?;
        out.flush().await?;
        match reply.action {
            Action::None | Action::CloseEndpoint { .. } | Action::Load { .. } => Ok(true),
            Action::Logout => Ok(false),
            Action::Shutdown => {
                self.shutdown.notify_one();
                Ok(false)
            }
        }
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
            Action::None | Action::Logout | Action::Shutdown => {}
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
            let mut reply = self.execute(line);
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
