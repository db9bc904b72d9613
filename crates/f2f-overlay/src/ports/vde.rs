//! VDE ports: the control socket `DIR/ctl`, the v3 handshake, and one
//! datagram socket per endpoint (spec/vde-protocol.md §2–§4).
//!
//! Each accepted control connection becomes one task that reads the request,
//! attaches the endpoint in the core, creates and announces its data socket
//! `DIR/NNN.F`, then has a thread of the runtime's blocking pool forward the
//! endpoint's datagrams (`recvmmsg` batches straight into the datapath,
//! sleeping in `recvmmsg` itself when the socket is empty: no runtime
//! scheduling per frame, and endpoints forward on every core at once) until
//! its control stream closes (the only liveness signal of the protocol, §3.4).
//!
//! Differences from vde_switch, on purpose: a request that is refused (port
//! busy, number too high, access denied) gets its connection closed with a log
//! line instead of hanging the client forever (§2.5); a request that never
//! completes is dropped after [`HANDSHAKE_TIMEOUT`]; oversize datagrams are
//! dropped and counted instead of truncated.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use f2f_core::switch::{AttachRequest, Endpoint, PortId, PortRequest};
use f2f_core::wire::vde::{self, Reply, Request, RequestError, RequestKind};
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};
use nix::unistd::AccessFlags;
use std::os::unix::net::UnixDatagram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tracing::{debug, info, warn};

use crate::datapath::{Datapath, FrameSink, Scratch, Sink};
use crate::limit::Limit;
use crate::ports::spin::Spinner;
use crate::sys;
use crate::sys::mmsg::{RecvBatch, BATCH};

/// How long a client may take to send its request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most control connections that may be in their handshake at once (not yet
/// attached); more are closed at once, so clients that connect and say
/// nothing cannot pile up file descriptors and tasks.
pub const MAX_HANDSHAKES: usize = 128;
/// Most bytes of receive buffer per endpoint (the batch shrinks for jumbo frames).
const RECV_BUDGET: usize = 256 * 1024;

/// Ownership and modes applied to the sockets this module creates.
#[derive(Clone, Debug)]
pub struct SocketPolicy {
    /// The control directory.
    pub dir: PathBuf,
    /// Mode of the control socket (and the base for data sockets).
    pub mode: u32,
    /// Group of every socket, if `-g` was given.
    pub group: Option<u32>,
}

/// A live endpoint, as the console and shutdown see it.
#[derive(Debug)]
struct LiveEndpoint {
    port: PortId,
    path: PathBuf,
    close: Arc<Notify>,
}

/// The VDE control socket server.
#[derive(Debug)]
pub struct VdeServer {
    datapath: Arc<Datapath>,
    policy: SocketPolicy,
    live: Mutex<HashMap<u32, LiveEndpoint>>,
    handshakes: Limit,
}

/// Why a control connection was closed before its endpoint attached.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("closed before request")]
    ClosedEarly,
    #[error("truncated request: {got} of {needed} bytes, then the client closed")]
    Truncated { got: usize, needed: usize },
    #[error("request timed out after {got} bytes (truncated request)")]
    Timeout { got: usize },
    #[error("{kind}: {source}")]
    Bad {
        kind: &'static str,
        source: RequestError,
    },
    #[error("client socket {path:?} is not readable and writable by the switch: {source}")]
    Access { path: PathBuf, source: nix::Error },
    #[error("{0}")]
    Attach(f2f_core::switch::AttachError),
    #[error("cannot create data socket {path:?}: {source}")]
    DataSocket { path: PathBuf, source: io::Error },
    #[error("control connection: {0}")]
    Io(#[from] io::Error),
}

impl VdeServer {
    /// A server for the control directory in `policy`.
    pub fn new(datapath: Arc<Datapath>, policy: SocketPolicy) -> Arc<VdeServer> {
        Arc::new(VdeServer {
            datapath,
            policy,
            live: Mutex::new(HashMap::new()),
            handshakes: Limit::new(
                "VDE handshakes in progress",
                "each has 5 s to send its request",
                MAX_HANDSHAKES,
            ),
        })
    }

    /// Accept control connections forever.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let Some(slot) = self.handshakes.try_enter() else {
                        continue;
                    };
                    let me = Arc::clone(&self);
                    tokio::spawn(async move { me.run_endpoint(stream, slot).await });
                }
                Err(err) => {
                    warn!(%err, "accept on control socket failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Close endpoint `id` of `port` (`port/epclose`); false if unknown.
    pub fn close_endpoint(&self, port: PortId, id: u32) -> bool {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.get(&id) {
            Some(ep) if ep.port == port => {
                ep.close.notify_one();
                true
            }
            _ => false,
        }
    }

    /// Paths of every live data socket (for cleanup at exit).
    pub fn data_socket_paths(&self) -> Vec<PathBuf> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.values().map(|e| e.path.clone()).collect()
    }

    /// Serve one control connection; `handshake` holds its slot among the
    /// handshakes in progress until the endpoint is attached or refused.
    async fn run_endpoint(self: Arc<Self>, mut ctl: UnixStream, handshake: OwnedSemaphorePermit) {
        let id = u32::try_from(ctl.as_raw_fd()).unwrap_or(0);
        let request = match read_request(&mut ctl).await {
            Ok(r) => r,
            Err(err) => {
                warn!(endpoint = id, "VDE control connection refused: {err}");
                return;
            }
        };
        let (port, data, path) = match self.attach(id, &request).await {
            Ok(x) => x,
            Err(err) => {
                warn!(endpoint = id, "VDE control connection refused: {err}");
                return;
            }
        };
        let reply = match Reply::new(path.as_os_str().as_bytes().to_vec()) {
            Ok(r) => r.emit(),
            Err(err) => {
                warn!(endpoint = id, "data socket path too long: {err}");
                self.detach(port, id, &path);
                return;
            }
        };
        // Register the endpoint before replying, as vde_switch sets the port
        // up first: a frame forwarded right after the client reads its reply
        // must already find the new sink.
        let close = Arc::new(Notify::new());
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                LiveEndpoint {
                    port,
                    path: path.clone(),
                    close: Arc::clone(&close),
                },
            );
        self.datapath.add_sink(
            port,
            Sink {
                endpoint: id,
                socket: Arc::clone(&data) as Arc<dyn FrameSink>,
            },
        );
        let written = ctl.write_all(&reply).await;
        drop(handshake);
        if let Err(err) = written {
            warn!(endpoint = id, port, %err, "client left during the handshake");
        } else {
            info!(port, endpoint = id, descr = %request.description, "endpoint attached");
            self.pump(port, id, ctl, &data, &close).await;
            info!(port, endpoint = id, "endpoint detached");
        }
        self.datapath.remove_sink(port, id);
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        self.detach(port, id, &path);
    }

    /// Forward the endpoint's datagrams until its control stream closes (or
    /// the console closes it): a thread of its own receives and forwards
    /// (see [`receive`]); this task waits for the end and then stops it.
    async fn pump(
        &self,
        port: PortId,
        id: u32,
        mut ctl: UnixStream,
        data: &Arc<UnixDatagram>,
        close: &Notify,
    ) {
        // One slot per datagram, one byte longer than the largest frame so a
        // longer datagram shows up as oversize; fewer slots for jumbo frames.
        let slot = self.datapath.lock().config().max_frame + 1;
        let stop = Arc::new(AtomicBool::new(false));
        let datapath = Arc::clone(&self.datapath);
        let sock = Arc::clone(data);
        let stopped = Arc::clone(&stop);
        let mut receiver = tokio::task::spawn_blocking(move || {
            receive(&datapath, port, id, &sock, &stopped, slot);
        });
        let mut ctl_buf = [0u8; 256];
        tokio::select! {
            () = async {
                // Nothing more is expected on the control stream; read until
                // it closes.
                while matches!(ctl.read(&mut ctl_buf).await, Ok(n) if n > 0) {}
            } => {}
            () = close.notified() => info!(port, endpoint = id, "endpoint closed by the console"),
            _ = &mut receiver => return,
        }
        // The flag first: the shutdown wakes the receiver's recvmmsg (and
        // answers every later one at once), and the receiver then sees it.
        stop.store(true, Ordering::Release);
        if let Err(err) = data.shutdown(std::net::Shutdown::Read) {
            warn!(port, endpoint = id, %err, "cannot stop the endpoint's receiver");
        }
        let _ = receiver.await;
    }

    /// Attach in the core and create the endpoint's data socket.
    async fn attach(
        &self,
        id: u32,
        req: &Request,
    ) -> Result<(PortId, Arc<UnixDatagram>, PathBuf), HandshakeError> {
        let client = PathBuf::from(OsStr::from_bytes(&req.sock_path));
        nix::unistd::access(&client, AccessFlags::R_OK | AccessFlags::W_OK).map_err(|source| {
            HandshakeError::Access {
                path: client.clone(),
                source,
            }
        })?;
        let user = std::fs::metadata(&client).map(|m| m.uid()).unwrap_or(0);
        let groups = if user == 0 {
            Vec::new()
        } else {
            sys::groups_of(user)
        };
        let port = match (req.kind, req.port) {
            (RequestKind::NewPort0, _) => PortRequest::Zero,
            (RequestKind::NewControl, 0) => PortRequest::Any,
            (RequestKind::NewControl, n) => PortRequest::Number(n),
        };
        let endpoint = Endpoint {
            id,
            module: "unix prog",
            description: req.description.clone(),
            user,
        };
        let port = self
            .datapath
            .lock()
            .attach(AttachRequest {
                port,
                endpoint,
                groups,
            })
            .map_err(HandshakeError::Attach)?;
        match self.data_socket(port, &client, user) {
            Ok((sock, path)) => Ok((port, Arc::new(sock), path)),
            Err(err) => {
                self.datapath.lock().detach(port, id);
                Err(err)
            }
        }
    }

    /// Create `DIR/NNN.F`, connected to the client, with vde_switch's modes.
    fn data_socket(
        &self,
        port: PortId,
        client: &Path,
        user: u32,
    ) -> Result<(UnixDatagram, PathBuf), HandshakeError> {
        let err = |path: &Path, source: io::Error| HandshakeError::DataSocket {
            path: path.to_path_buf(),
            source,
        };
        // Blocking, so that the receiver sleeps in recvmmsg; every send
        // says MSG_DONTWAIT.
        let fd: OwnedFd = socket::socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| err(&self.policy.dir, e.into()))?;
        let path = self
            .policy
            .dir
            .join(format!("{:03}.{}", port, fd.as_raw_fd()));
        let _ = std::fs::remove_file(&path);
        let addr = UnixAddr::new(&path).map_err(|e| err(&path, e.into()))?;
        socket::bind(fd.as_raw_fd(), &addr).map_err(|e| err(&path, e.into()))?;
        let peer = UnixAddr::new(client).map_err(|e| err(client, e.into()))?;
        if let Err(e) = socket::connect(fd.as_raw_fd(), &peer) {
            let _ = std::fs::remove_file(&path);
            return Err(err(client, e.into()));
        }
        // vde_switch: as root the socket belongs to the client's user with the
        // owner bits of the mode; otherwise the mode as given (§4.3).
        let (mode, owner) = if sys::is_root() {
            (self.policy.mode & 0o700, Some(user))
        } else {
            (self.policy.mode, None)
        };
        let applied =
            sys::chmod(&path, mode).and_then(|()| sys::chown(&path, owner, self.policy.group));
        if let Err(e) = applied {
            let _ = std::fs::remove_file(&path);
            return Err(err(&path, e));
        }
        Ok((UnixDatagram::from(fd), path))
    }

    fn detach(&self, port: PortId, id: u32, path: &Path) {
        self.datapath.lock().detach(port, id);
        let _ = std::fs::remove_file(path);
    }
}

/// Read one v3 request, failing fast on a bad magic or version and closing on
/// silence (vde_switch would wait forever).
async fn read_request(ctl: &mut UnixStream) -> Result<Request, HandshakeError> {
    let mut buf = vec![0u8; vde::MAX_REQUEST_LEN];
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    loop {
        let space = buf.get_mut(got..).unwrap_or(&mut []);
        if space.is_empty() {
            break;
        }
        let n = match tokio::time::timeout_at(deadline, ctl.read(space)).await {
            Err(_) => return Err(HandshakeError::Timeout { got }),
            Ok(r) => r?,
        };
        if n == 0 {
            return Err(if got == 0 {
                HandshakeError::ClosedEarly
            } else {
                HandshakeError::Truncated {
                    got,
                    needed: vde::REQUEST_HEADER_LEN,
                }
            });
        }
        got += n;
        let have = buf.get(..got).unwrap_or(&[]);
        // Check what has arrived so far: a wrong magic or version fails now.
        match Request::parse(have) {
            Ok(req) => return Ok(req),
            Err(RequestError::Truncated { .. }) => continue,
            Err(source) => {
                return Err(HandshakeError::Bad {
                    kind: error_kind(&source),
                    source,
                })
            }
        }
    }
    let have = buf.get(..got).unwrap_or(&[]);
    Request::parse(have).map_err(|source| HandshakeError::Bad {
        kind: error_kind(&source),
        source,
    })
}

/// A fixed phrase per refusal, for logs that scripts and tests can match.
fn error_kind(err: &RequestError) -> &'static str {
    match err {
        RequestError::Truncated { .. } => "truncated request",
        RequestError::BadMagic { .. } => "bad magic",
        RequestError::UnsupportedVersion { .. } => "unsupported version",
        RequestError::BadKind { .. } => "bad request type",
        RequestError::BadFamily { .. } => "bad socket address family",
        RequestError::EmptyPath => "empty client socket path",
        RequestError::TooLong { .. } => "request too long",
        RequestError::PathTooLong { .. } | RequestError::NulInPath { .. } => {
            "bad client socket path"
        }
    }
}

/// An endpoint's receive loop, on a thread of its own (not a task on the
/// switch's single-threaded runtime): frames from several endpoints are
/// decided and written on every core at once, and a frame costs no runtime
/// scheduling, only `recvmmsg` batches. An idle socket is waited for in
/// `recvmmsg` itself, so one frame per wake-up costs one receive call and
/// the sends (when a busy loop looks again first: [`Spinner`]); the loop ends when `stop` is set (the socket is then shut down
/// for reading, which wakes the call).
fn receive(
    datapath: &Datapath,
    port: PortId,
    id: u32,
    data: &UnixDatagram,
    stop: &AtomicBool,
    slot: usize,
) {
    let mut batch = RecvBatch::new(slot, RECV_BUDGET / slot);
    let mut scratch = Scratch::default();
    let mut spinner = Spinner::default();
    loop {
        match batch.recv(data.as_raw_fd(), spinner.may_sleep()) {
            Ok(_) if stop.load(Ordering::Acquire) => return,
            Ok(n) => {
                let mut frames: [&[u8]; BATCH] = [&[]; BATCH];
                batch.frames(n, &mut frames);
                datapath.forward_batch(port, frames.get(..n).unwrap_or(&[]), &mut scratch);
                spinner.received(n);
            }
            Err(Errno::EAGAIN) => {
                spinner.missed();
                std::thread::yield_now();
            }
            Err(Errno::EINTR) => {}
            Err(errno) => {
                debug!(port, endpoint = id, err = %errno, "receive error on data socket");
                return;
            }
        }
    }
}
