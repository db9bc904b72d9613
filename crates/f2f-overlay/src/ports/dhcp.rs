//! The DHCP server port: [`f2f_core::dhcp::DhcpServer`] attached to the switch
//! as an internal port (module `dhcp` in `port/print`), with its lease file.
//!
//! Frames the switch sends to the port pass a destination filter (the server's
//! MAC or broadcast, as a NIC filters) into a bounded queue ([`QUEUE_LEN`]
//! frames; when full the copy is dropped and counted as `egress_full` on the
//! port, like any slow endpoint). One task feeds them to the server, switches
//! its replies as if received on the port, runs its timer, and logs its
//! events. The server never probes or waits, so a flood of DISCOVERs costs a
//! table lookup each and a real client's request waits behind at most one
//! queue's worth of frames.
//!
//! The port is the switch's last one (`numports - 1`), not allocatable, so VDE
//! clients keep getting ports from 1 as they would from vde_switch.
//!
//! Lease file (`--dhcp-lease-file`, default `STATE_DIR/leases.json`): loaded
//! at start; rewritten atomically (temp file, fsync, rename, fsync of the
//! directory) after every change, by a writer task so a slow disk never stalls
//! forwarding; rapid changes coalesce into one write of the latest state, and
//! the last state is written once more at shutdown. A lease file that cannot
//! be read or parsed stops the switch at start with an error naming the file:
//! starting empty would hand the addresses clients still hold to others.
//!
//! The server's MAC is derived from its address (`02:f2` + the four address
//! bytes), so it stays the same across restarts and clients' ARP caches stay
//! valid.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use f2f_core::dhcp::{
    DhcpConfig, DhcpConfigError, DhcpEvent, DhcpServer, FrameOutcome, Ipv4Net, LeaseSnapshot,
    UnixTime,
};
use f2f_core::mac::MacAddr;
use f2f_core::status::DhcpStatus;
use f2f_core::switch::{AttachError, AttachRequest, Endpoint, PortId, PortRequest};
use f2f_core::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, info, trace, warn};

use crate::cli::DhcpArgs;
use crate::datapath::{Datapath, FrameSink, Scratch, Sink};
use crate::state;

/// The port's module name in `port/print`.
pub const MODULE: &str = "dhcp";
/// Frames waiting for the server; more are dropped and counted.
pub const QUEUE_LEN: usize = 1024;
/// Frames handled before the replies are switched (the server's own transmit
/// queue holds 256).
const BATCH: usize = 64;
/// Mode of the lease file.
const LEASE_FILE_MODE: u32 = 0o600;
/// The lease file's name in the state directory.
pub const LEASE_FILE_NAME: &str = "leases.json";

/// Why the DHCP server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DhcpSetupError {
    /// The flags do not make a valid configuration.
    #[error("DHCP settings: {0}")]
    Config(#[from] DhcpConfigError),
    /// DHCP settings without the subnet to serve.
    #[error("{flags} given without --dhcp CIDR (the subnet to serve)")]
    NoSubnet {
        /// The settings given.
        flags: String,
    },
    /// The lease file's directory cannot be created.
    #[error("cannot create the directory {path} for the DHCP lease file: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The lease file exists but cannot be read.
    #[error("cannot read the DHCP lease file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The lease file is not a lease snapshot.
    #[error(
        "the DHCP lease file {path} is corrupt ({source}); refusing to start, since forgetting \
         its leases could give one address to two clients: fix the file, or move it away to \
         start with no leases"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said (line and column included).
        source: serde_json::Error,
    },
    /// The switch has no port to spare for the server.
    #[error("cannot attach the DHCP server to port {port}: {source} (use -n to have more ports)")]
    Attach {
        /// The port wanted.
        port: PortId,
        /// Why.
        source: AttachError,
    },
    /// The switch has fewer than two ports.
    #[error("the DHCP server needs a port of its own: -n must be at least 2")]
    NoPort,
    /// The descriptor that names the endpoint could not be opened.
    #[error("cannot open /dev/null for the DHCP endpoint id: {0}")]
    EndpointId(io::Error),
}

/// What `--dhcp*` asks for, checked and loaded before the switch starts (and
/// before it daemonizes, so errors reach the terminal).
#[derive(Clone, Debug)]
pub struct DhcpSetup {
    config: DhcpConfig,
    lease_file: PathBuf,
    snapshot: Option<LeaseSnapshot>,
}

impl DhcpSetup {
    /// `None` without `--dhcp`. Resolves the lease file (absolute: the
    /// switch may chdir when it daemonizes), creates its directory, reads it.
    pub fn from_args(
        args: &DhcpArgs,
        state_dir: Option<&Path>,
    ) -> Result<Option<DhcpSetup>, DhcpSetupError> {
        let Some(subnet) = args.subnet else {
            let orphans = args.without_subnet();
            if orphans.is_empty() {
                return Ok(None);
            }
            return Err(DhcpSetupError::NoSubnet {
                flags: orphans.join(", "),
            });
        };
        let config = config(args, subnet)?;
        let lease_file = match &args.lease_file {
            Some(p) => absolute(p),
            None => absolute(&state::state_dir(state_dir)).join(LEASE_FILE_NAME),
        };
        if let Some(dir) = lease_file.parent() {
            state::ensure_dir(dir).map_err(|source| DhcpSetupError::StateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let snapshot = load(&lease_file)?;
        Ok(Some(DhcpSetup {
            config,
            lease_file,
            snapshot,
        }))
    }
}

/// The configuration the flags describe, validated.
pub fn config(args: &DhcpArgs, subnet: Ipv4Net) -> Result<DhcpConfig, DhcpConfigError> {
    let mut c = DhcpConfig::new(subnet, MacAddr([0x02, 0xf2, 0, 0, 0, 0]))?;
    if let Some(ip) = args.server_ip {
        c.server_ip = ip;
    }
    c.server_mac = server_mac(c.server_ip);
    if let Some(range) = args.range {
        c.range = range;
    }
    if let Some(secs) = args.lease_time {
        c.lease_time = Duration::from_secs(secs);
    }
    c.router = args.router;
    c.dns.clone_from(&args.dns);
    c.reservations.clone_from(&args.reserve);
    c.validate()?;
    Ok(c)
}

/// The server's MAC for `ip`: locally administered, `02:f2:a:b:c:d`.
pub fn server_mac(ip: Ipv4Addr) -> MacAddr {
    let [a, b, c, d] = ip.octets();
    MacAddr([0x02, 0xf2, a, b, c, d])
}

/// Reads the lease file; `None` when it does not exist yet.
fn load(path: &Path) -> Result<Option<LeaseSnapshot>, DhcpSetupError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DhcpSetupError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| DhcpSetupError::Corrupt {
            path: path.to_path_buf(),
            source,
        })
}

/// The running DHCP port.
#[derive(Debug)]
pub struct DhcpPort {
    server: Mutex<DhcpServer>,
    port: PortId,
    writer: Arc<LeaseWriter>,
    /// Held open so that its descriptor number, the endpoint id, is unique.
    _id: File,
}

impl DhcpPort {
    /// Attaches the server to the switch's last port, registers its queue and
    /// starts its task and the lease writer.
    pub fn start(
        setup: DhcpSetup,
        datapath: &Arc<Datapath>,
    ) -> Result<Arc<DhcpPort>, DhcpSetupError> {
        let now = datapath.now();
        let DhcpSetup {
            config,
            lease_file,
            snapshot,
        } = setup;
        let records = snapshot.as_ref().map_or(0, |s| s.leases.len() as u64);
        let server = DhcpServer::new(config.clone(), snapshot.as_ref(), now, wall_now())?;
        let dropped = server.counters().snapshot_dropped;
        let restored = records.saturating_sub(dropped);
        let id_file = File::open("/dev/null").map_err(DhcpSetupError::EndpointId)?;
        let id = u32::try_from(id_file.as_raw_fd()).unwrap_or(u32::MAX);
        let port = {
            let mut sw = datapath.lock();
            let numports = sw.config().numports;
            let last = numports.checked_sub(1).filter(|p| *p > 0);
            let last = last.and_then(|p| u32::try_from(p).ok());
            let wanted = last.ok_or(DhcpSetupError::NoPort)?;
            let port = sw
                .attach(AttachRequest {
                    port: PortRequest::Number(wanted),
                    endpoint: Endpoint {
                        id,
                        module: MODULE,
                        description: format!(
                            "DHCP server {} on {}",
                            config.server_ip, config.subnet
                        ),
                        user: nix::unistd::geteuid().as_raw(),
                    },
                    groups: Vec::new(),
                })
                .map_err(|source| DhcpSetupError::Attach {
                    port: PortId::try_from(wanted).unwrap_or(PortId::MAX),
                    source,
                })?;
            if let Ok(p) = sw.port_mut(port) {
                p.allocatable = false;
            }
            port
        };
        let (tx, rx) = mpsc::channel(QUEUE_LEN);
        datapath.add_sink(
            port,
            Sink {
                endpoint: id,
                socket: Arc::new(QueueSink {
                    tx,
                    server_mac: config.server_mac,
                }),
            },
        );
        let writer = LeaseWriter::new(lease_file.clone());
        tokio::spawn(Arc::clone(&writer).run());
        let me = Arc::new(DhcpPort {
            server: Mutex::new(server),
            port,
            writer,
            _id: id_file,
        });
        info!(
            port,
            subnet = %config.subnet,
            server_ip = %config.server_ip,
            server_mac = %config.server_mac,
            range = %config.range,
            lease_secs = config.lease_time.as_secs(),
            reserved = config.reservations.len(),
            lease_file = %lease_file.display(),
            restored,
            "DHCP server ready"
        );
        if dropped > 0 {
            warn!(
                lease_file = %lease_file.display(),
                dropped,
                "lease records not restored: not valid under the current --dhcp settings (or a \
                 lease file format this version does not know)"
            );
        }
        tokio::spawn(Arc::clone(&me).run(Arc::clone(datapath), rx));
        Ok(me)
    }

    /// `dhcp/print`'s text.
    pub fn render_print(&self, now: Instant) -> String {
        self.server().render_print(now)
    }

    /// The `dhcp` section of `status`: subnet and leases in force.
    pub fn status(&self, now: Instant) -> DhcpStatus {
        DhcpStatus::of(&self.server(), now)
    }

    /// Writes the lease file now, synchronously (at shutdown).
    pub fn flush(&self, now: Instant) {
        let snapshot = self.server().snapshot(now, wall_now());
        self.writer.write_now(snapshot);
    }

    fn server(&self) -> MutexGuard<'_, DhcpServer> {
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Feed queued frames to the server and run its timer, forever.
    async fn run(self: Arc<Self>, datapath: Arc<Datapath>, mut rx: mpsc::Receiver<Vec<u8>>) {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        loop {
            let deadline = self.server().poll_timeout();
            let wait = deadline.map(|d| d.saturating_duration_since(datapath.now()));
            let timer = async {
                match wait {
                    Some(d) => {
                        tokio::time::sleep(StdDuration::from_micros(
                            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
                        ))
                        .await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = rx.recv() => {
                    let Some(frame) = frame else { return };
                    self.drain(frame, &mut rx, &datapath, &mut scratch, &mut out);
                }
                () = timer => {
                    self.server().handle_timeout(datapath.now());
                    self.flush_outputs(&datapath, &mut scratch, &mut out);
                }
            }
        }
    }

    /// Handle `first` and whatever else is queued, up to [`QUEUE_LEN`] frames,
    /// switching replies every [`BATCH`]. Draining the queue in one turn
    /// (rather than one coop budget's worth) keeps it from filling while the
    /// ports that feed it take their turns, so a flood does not crowd out a
    /// real client's frame at the queue.
    fn drain(
        &self,
        first: Vec<u8>,
        rx: &mut mpsc::Receiver<Vec<u8>>,
        datapath: &Datapath,
        scratch: &mut Scratch,
        out: &mut Vec<Vec<u8>>,
    ) {
        let mut next = Some(first);
        let mut handled = 0;
        while let Some(frame) = next.take() {
            let now = datapath.now();
            {
                let mut server = self.server();
                handle(&mut server, now, &frame);
                let mut n = 1;
                while n < BATCH {
                    match rx.try_recv() {
                        Ok(frame) => handle(&mut server, now, &frame),
                        Err(_) => break,
                    }
                    n += 1;
                }
                handled += n;
            }
            self.flush_outputs(datapath, scratch, out);
            if handled < QUEUE_LEN {
                next = rx.try_recv().ok();
            }
        }
    }

    /// Switch the server's replies, log its events, hand a changed lease
    /// table to the writer. The server lock is released before switching.
    fn flush_outputs(&self, datapath: &Datapath, scratch: &mut Scratch, out: &mut Vec<Vec<u8>>) {
        let now = datapath.now();
        let (events, snapshot, exhausted_total, pool) = {
            let mut server = self.server();
            out.extend(std::iter::from_fn(|| server.poll_transmit()));
            let events: Vec<DhcpEvent> = std::iter::from_fn(|| server.poll_event()).collect();
            let snapshot = server
                .take_dirty()
                .then(|| server.snapshot(now, wall_now()));
            let c = server.config();
            let pool = (c.range, c.dynamic_pool_size());
            (events, snapshot, server.counters().pool_exhausted, pool)
        };
        for frame in out.drain(..) {
            datapath.forward(self.port, &frame, scratch);
        }
        for event in events {
            log_event(&event, exhausted_total, pool);
        }
        if let Some(snapshot) = snapshot {
            self.writer.submit(snapshot);
        }
    }
}

fn handle(server: &mut DhcpServer, now: Instant, frame: &[u8]) {
    match server.handle_frame(now, frame) {
        FrameOutcome::Handled => {}
        FrameOutcome::Ignored(reason) => trace!(?reason, "DHCP port: frame ignored"),
        FrameOutcome::Malformed(error) => debug!(%error, "DHCP port: malformed frame (counted)"),
    }
}

fn log_event(
    event: &DhcpEvent,
    exhausted_total: u64,
    (range, size): (f2f_core::dhcp::IpRange, u64),
) {
    match *event {
        DhcpEvent::Offered { mac, ip } => debug!(%mac, %ip, "DHCP offer"),
        DhcpEvent::Leased {
            mac,
            ip,
            renewed: false,
        } => info!(%mac, %ip, "DHCP lease"),
        DhcpEvent::Leased {
            mac,
            ip,
            renewed: true,
        } => debug!(%mac, %ip, "DHCP lease renewed"),
        DhcpEvent::Nak {
            mac,
            requested,
            reason,
        } => info!(%mac, %requested, ?reason, "DHCP request refused (NAK)"),
        DhcpEvent::Released { mac, ip } => info!(%mac, %ip, "DHCP lease released"),
        DhcpEvent::Declined { mac, ip } => warn!(
            %mac, %ip,
            "DHCP address declined: a client found it in use; it is out of the pool for a while"
        ),
        DhcpEvent::Expired { mac, ip } => info!(%mac, %ip, "DHCP lease expired"),
        DhcpEvent::PoolExhausted { mac, suppressed } => warn!(
            %mac,
            suppressed,
            total = exhausted_total,
            "DHCP pool exhausted: no free address in {range} ({size} addresses) for {mac}; \
             clients get none until leases are released or expire (widen --dhcp-range or \
             shorten --dhcp-lease-time)"
        ),
    }
}

/// Seconds since the Unix epoch, for the lease file.
fn wall_now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The port's sink: frames for the server into its bounded queue.
#[derive(Debug)]
struct QueueSink {
    tx: mpsc::Sender<Vec<u8>>,
    server_mac: MacAddr,
}

impl FrameSink for QueueSink {
    fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        let dst = frame.get(..6).and_then(MacAddr::from_slice);
        if !dst.is_some_and(|d| d == self.server_mac || d.is_broadcast()) {
            // Not for the server: filtered as a NIC filters, not a drop.
            return Ok(());
        }
        self.tx
            .try_send(frame.to_vec())
            .map_err(|_| io::ErrorKind::WouldBlock.into())
    }
}

/// Writes lease snapshots in the background, newest wins.
#[derive(Debug)]
struct LeaseWriter {
    path: PathBuf,
    /// The newest snapshot not yet written, with its generation.
    pending: Mutex<Option<(u64, LeaseSnapshot)>>,
    wake: Notify,
    next_gen: AtomicU64,
    /// The generation on disk; held while writing so writes never interleave
    /// and an older snapshot never replaces a newer one.
    written: Mutex<u64>,
}

impl LeaseWriter {
    fn new(path: PathBuf) -> Arc<LeaseWriter> {
        Arc::new(LeaseWriter {
            path,
            pending: Mutex::new(None),
            wake: Notify::new(),
            next_gen: AtomicU64::new(1),
            written: Mutex::new(0),
        })
    }

    /// Queue `snapshot` for writing (replacing one not written yet).
    fn submit(&self, snapshot: LeaseSnapshot) {
        let gen = self.next_gen.fetch_add(1, Ordering::Relaxed);
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some((gen, snapshot));
        self.wake.notify_one();
    }

    /// Write `snapshot` now, on this thread.
    fn write_now(&self, snapshot: LeaseSnapshot) {
        let gen = self.next_gen.fetch_add(1, Ordering::Relaxed);
        self.write(gen, &snapshot);
    }

    async fn run(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            let next = self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some((gen, snapshot)) = next {
                let me = Arc::clone(&self);
                let _ = tokio::task::spawn_blocking(move || me.write(gen, &snapshot)).await;
            }
        }
    }

    fn write(&self, gen: u64, snapshot: &LeaseSnapshot) {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if gen <= *written {
            return;
        }
        let result = serde_json::to_vec_pretty(snapshot)
            .map_err(io::Error::from)
            .and_then(|mut json| {
                json.push(b'\n');
                state::write_atomic(&self.path, &json, LEASE_FILE_MODE)
            });
        match result {
            Ok(()) => {
                *written = gen;
                trace!(path = %self.path.display(), leases = snapshot.leases.len(), "lease file written");
            }
            Err(err) => warn!(
                path = %self.path.display(),
                %err,
                "cannot write the DHCP lease file; leases stay in memory and the write is \
                 retried at the next change"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(flags: &[&str]) -> DhcpArgs {
        let mut argv = vec!["vde_switch"];
        argv.extend_from_slice(flags);
        crate::cli::VdeSwitchCli::try_parse_from(argv)
            .unwrap()
            .args
            .dhcp
    }

    #[test]
    fn config_from_flags() {
        let a = args(&[
            "--dhcp",
            "10.9.0.0/24",
            "--dhcp-range",
            "10.9.0.100-10.9.0.199",
            "--dhcp-router",
            "10.9.0.254",
            "--dhcp-server-ip",
            "10.9.0.2",
            "--dhcp-reserve",
            "52:54:00:00:00:07=10.9.0.7",
        ]);
        let c = config(&a, a.subnet.unwrap()).unwrap();
        assert_eq!(c.server_ip, Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(c.server_mac.to_string(), "02:f2:0a:09:00:02");
        assert_eq!(c.lease_time, Duration::from_secs(3600), "the default");
        assert_eq!(c.range.to_string(), "10.9.0.100-10.9.0.199");
        assert_eq!(c.reservations.len(), 1);
        let bad = args(&["--dhcp", "10.9.0.0/24", "--dhcp-router", "10.8.0.1"]);
        let err = config(&bad, bad.subnet.unwrap()).unwrap_err();
        assert!(err.to_string().contains("10.8.0.1"), "{err}");
    }

    #[test]
    fn lease_file_missing_corrupt_and_good() {
        let dir = std::env::temp_dir().join(format!("f2f-dhcp-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("sub/leases.json");
        let file_s = file.to_str().unwrap();
        let a = args(&["--dhcp", "10.9.0.0/24", "--dhcp-lease-file", file_s]);
        let setup = DhcpSetup::from_args(&a, None).unwrap().unwrap();
        assert!(setup.snapshot.is_none(), "no file yet: no leases");
        assert!(dir.join("sub").is_dir(), "its directory is created");

        std::fs::write(&file, "{\"version\":1,").unwrap();
        let err = DhcpSetup::from_args(&a, None).unwrap_err().to_string();
        assert!(err.contains(file_s) && err.contains("corrupt"), "{err}");

        let writer = LeaseWriter::new(file.clone());
        let snap = LeaseSnapshot {
            version: 1,
            saved_at: UnixTime(5),
            leases: vec![],
        };
        writer.write_now(snap.clone());
        let setup = DhcpSetup::from_args(&a, None).unwrap().unwrap();
        assert_eq!(setup.snapshot, Some(snap));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn older_snapshots_never_replace_newer_ones() {
        let dir = std::env::temp_dir().join(format!("f2f-dhcp-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("leases.json");
        let writer = LeaseWriter::new(file.clone());
        let snap = |t| LeaseSnapshot {
            version: 1,
            saved_at: UnixTime(t),
            leases: vec![],
        };
        writer.write(2, &snap(2));
        writer.write(1, &snap(1));
        let on_disk: LeaseSnapshot =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(on_disk.saved_at, UnixTime(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
