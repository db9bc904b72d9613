//! `f2f-overlay switch`: set up the control directory and sockets the way
//! vde_switch does (spec/vde-protocol.md §1), optionally daemonize, then run
//! the ports, the console and the timers until shutdown, and clean up.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use f2f_core::fdb::FdbConfig;
use f2f_core::mac::MacAddr;
use f2f_core::switch::{
    round_hash_size, Switch, SwitchConfig, DEFAULT_HASH_SIZE, DEFAULT_MAX_FRAME, DEFAULT_NUMPORTS,
};
use f2f_core::wire::bpdu::BridgeId;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::cli::SwitchArgs;
use crate::clock::Clock;
use crate::datapath::{mac_table_hasher, Datapath};
use crate::keys;
use crate::mgmt::{read_script, Console, ScriptMode, Services, StatusExtra, DEFAULT_MAX_SESSIONS};
use crate::ports::dhcp::{DhcpPort, DhcpSetup};
use crate::ports::link::Links;
use crate::ports::stream::StreamServer;
use crate::ports::tap::OpenTap;
use crate::ports::vde::{SocketPolicy, VdeServer};
use crate::state;
use crate::sys;
use crate::sys::daemon::{fork_daemon, Forked};
use f2f_core::link::Timers;

/// vde_switch's default control directory for root.
pub const ROOT_CTL_DIR: &str = "/var/run/vde.ctl";
/// vde_switch's default control directory for other users.
pub const USER_CTL_DIR: &str = "/tmp/vde.ctl";
/// Default mode of the control socket.
const DEFAULT_CTL_MODE: u32 = 0o600;
/// Default mode of the control directory (setgid, owner only).
const DEFAULT_DIR_MODE: u32 = 0o2700;
/// Default mode of the management socket.
const DEFAULT_MGMT_MODE: u32 = 0o600;
/// vde_switch's system-wide rc file, run when `-f` is not given and the
/// user has no `~/.vde2/vde_switch.rc`.
const SYSTEM_RC_FILE: &str = "/etc/vde2/vde_switch.rc";

/// A socket we bound, remembered so that we only ever remove our own.
#[derive(Debug)]
struct BoundSocket {
    path: PathBuf,
    inode: u64,
}

impl BoundSocket {
    fn remove(&self) {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Everything set up before the process may daemonize.
#[derive(Debug)]
pub struct Prepared {
    dir: PathBuf,
    ctl: (StdUnixListener, BoundSocket),
    mgmt: (StdUnixListener, BoundSocket),
    stream: Option<(StdUnixListener, BoundSocket)>,
    taps: Vec<OpenTap>,
    ctl_mode: u32,
    mgmt_mode: u32,
    group: Option<u32>,
    config: SwitchConfig,
    /// `--max-consoles`.
    max_consoles: usize,
    pidfile: Option<PathBuf>,
    daemon: bool,
    /// The rc script to run at start: its path and its text.
    rc: Option<(String, String)>,
    /// The DHCP server's settings and restored leases, if `--dhcp` was given.
    dhcp: Option<DhcpSetup>,
    /// Links: keys loaded, listener bound.
    links: Option<LinkSetup>,
    /// The state directory (`node.key` for links added at run time).
    state_dir: PathBuf,
}

/// What `--key`, `--listen` and `--connect` asked for, checked before the
/// switch starts.
#[derive(Debug)]
struct LinkSetup {
    network_key: keys::Key,
    node_key: keys::Key,
    listener: Option<std::net::TcpListener>,
    connect: Vec<String>,
}

impl LinkSetup {
    fn from_args(args: &SwitchArgs) -> Result<Option<LinkSetup>> {
        let Some(path) = &args.key else {
            if args.listen.is_some() || !args.connect.is_empty() {
                bail!("--listen and --connect need --key FILE (make one with `f2f-overlay keygen FILE`)");
            }
            return Ok(None);
        };
        let network_key = keys::load(path).context("--key")?;
        let node_key = keys::node_key(&state::state_dir(args.common.state_dir.as_deref()))?;
        let listener = args.listen.map(bind_link_listener).transpose()?;
        Ok(Some(LinkSetup {
            network_key,
            node_key,
            listener,
            connect: args.connect.clone(),
        }))
    }
}

/// Bind `--listen ADDR:PORT` for links (non-blocking, for tokio).
pub fn bind_link_listener(addr: std::net::SocketAddr) -> Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)
        .with_context(|| format!("--listen {addr}: cannot listen there"))?;
    l.set_nonblocking(true)
        .context("cannot make the link listener non-blocking")?;
    Ok(l)
}

impl Prepared {
    /// The control directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The control directory used when `-s` is not given.
pub fn default_ctl_dir() -> PathBuf {
    PathBuf::from(if sys::is_root() {
        ROOT_CTL_DIR
    } else {
        USER_CTL_DIR
    })
}

/// Create the directory and bind the control and management sockets.
pub fn prepare(args: &SwitchArgs) -> Result<Prepared> {
    args.refuse_unsupported().map_err(anyhow::Error::msg)?;
    // Before any socket exists: a bad setting or lease file leaves nothing behind.
    let dhcp = DhcpSetup::from_args(&args.dhcp, args.common.state_dir.as_deref())?;
    let links = LinkSetup::from_args(args)?;
    let dir = absolute(args.sock.clone().unwrap_or_else(default_ctl_dir))?;
    let (ctl_mode, dir_mode) = modes(args.mode, args.dirmode);
    let group = args
        .group
        .as_deref()
        .map(sys::resolve_group)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mgmt_group = args
        .mgmt_group
        .as_deref()
        .map(sys::resolve_group)
        .transpose()
        .map_err(anyhow::Error::msg)?;

    // Taps are opened first, before any socket exists and before
    // daemonizing, so that a bad name or a missing /dev/net/tun stops the
    // start with the reason and leaves nothing behind.
    let taps = args
        .tap
        .iter()
        .map(|name| {
            OpenTap::open(name, !args.no_tap_offloads).with_context(|| format!("-t/--tap {name}"))
        })
        .collect::<Result<Vec<_>>>()?;
    if !dir.is_dir() {
        std::fs::create_dir(&dir)
            .with_context(|| format!("cannot create control directory {}", dir.display()))?;
    }
    sys::chmod(&dir, dir_mode).with_context(|| format!("cannot set mode of {}", dir.display()))?;
    if group.is_some() {
        sys::chown(&dir, None, group)
            .with_context(|| format!("cannot set group of {}", dir.display()))?;
    }
    let ctl = bind_listener(&dir.join("ctl"), ctl_mode, group)?;
    let mgmt_path = absolute(args.mgmt.clone().unwrap_or_else(|| dir.join("mgmt")))?;
    let mgmt_mode = args.mgmt_mode.unwrap_or(DEFAULT_MGMT_MODE);
    let mgmt = bind_listener(&mgmt_path, mgmt_mode, mgmt_group)?;
    let stream = args
        .stream_listen
        .clone()
        .map(absolute)
        .transpose()?
        .map(|path| bind_listener(&path, ctl_mode, group))
        .transpose()?;

    let numports = args.numports.unwrap_or(DEFAULT_NUMPORTS);
    if numports == 0 || numports > usize::from(u16::MAX) {
        bail!("-n/--numports {numports}: must be between 1 and 65535");
    }
    let hash_size = round_hash_size(args.hashsize.unwrap_or(DEFAULT_HASH_SIZE));
    if hash_size == 0 {
        bail!("--hashsize 0: the hash size must be at least 1");
    }
    let config = SwitchConfig {
        numports,
        hub: args.hub,
        max_frame: args.max_frame.unwrap_or(DEFAULT_MAX_FRAME),
        fdb: FdbConfig {
            capacity: args.max_macs.unwrap_or(f2f_core::fdb::DEFAULT_CAPACITY),
            port_capacity: args.port_max_macs.filter(|n| *n > 0),
            ..FdbConfig::default()
        },
        mac: args.macaddr.unwrap_or_else(random_switch_mac),
        fstp: args.fstp,
        // vde_switch keeps the low 16 bits (`& 0xffff`).
        priority: args
            .priority
            .map_or(BridgeId::DEFAULT_PRIORITY, |p| (p & 0xffff) as u16),
        hash_size,
    };
    if args.fstp && args.hub {
        warn!("-F/--fstp is ignored in hub mode (-x): spanning tree and hub exclude each other");
    }
    let max_consoles = args.max_consoles.unwrap_or(DEFAULT_MAX_SESSIONS);
    if max_consoles == 0 {
        bail!("--max-consoles 0: at least one management session must be allowed");
    }
    let pidfile = args.pidfile.clone().map(absolute).transpose()?;
    let rc = rc_script(args.rcfile.as_deref())?;
    Ok(Prepared {
        dir,
        ctl,
        mgmt,
        stream,
        taps,
        ctl_mode,
        mgmt_mode,
        group,
        config,
        max_consoles,
        pidfile,
        daemon: args.daemon,
        dhcp,
        rc,
        links,
        state_dir: state::state_dir(args.common.state_dir.as_deref()),
    })
}

/// The script to run at start, read now so that a bad `-f` fails before the
/// switch daemonizes: `-f FILE` must be readable; without it vde_switch's
/// defaults are used when readable (`~/.vde2/vde_switch.rc`, else
/// `/etc/vde2/vde_switch.rc`).
fn rc_script(rcfile: Option<&Path>) -> Result<Option<(String, String)>> {
    if let Some(path) = rcfile {
        let path = absolute(path.to_path_buf())?;
        let text = read_script(&path).map_err(|e| {
            anyhow::anyhow!(
                "-f/--rcfile {}: cannot read it: {}",
                path.display(),
                f2f_core::console::strerror(e)
            )
        })?;
        return Ok(Some((path.display().to_string(), text)));
    }
    let user_rc = sys::home_dir().map(|h| h.join(".vde2/vde_switch.rc"));
    for path in user_rc.into_iter().chain([PathBuf::from(SYSTEM_RC_FILE)]) {
        if let Ok(text) = read_script(&path) {
            return Ok(Some((path.display().to_string(), text)));
        }
    }
    Ok(None)
}

/// Daemonize if asked, write the pid file, and run until shutdown. With `-d`
/// the starting process returns only once the daemon's sockets exist and its
/// pid file is written.
pub fn run(prepared: Prepared, init_logging: impl FnOnce(bool)) -> Result<()> {
    run_with(prepared, init_logging, None)
}

/// What a [`Companion`] gets: the running switch, and a notification that
/// the switch is shutting down (finish within a second or two).
#[derive(Debug)]
pub struct CompanionCtx {
    /// The switch.
    pub datapath: Arc<Datapath>,
    /// Notified once when the switch shuts down.
    pub stop: Arc<Notify>,
    /// The switch's direct TCP links.
    pub links: Arc<Links>,
}

/// Work that runs beside the switch on its runtime (a room session): given
/// the switch, it returns what it adds to `status` and the future to run.
/// The switch shuts down when that future fails.
pub type Companion = Box<
    dyn FnOnce(
        CompanionCtx,
    ) -> (
        Arc<dyn StatusExtra>,
        Pin<Box<dyn Future<Output = Result<()>>>>,
    ),
>;

/// [`run`] with a [`Companion`].
pub fn run_with(
    mut prepared: Prepared,
    init_logging: impl FnOnce(bool),
    companion: Option<Companion>,
) -> Result<()> {
    let ready = if prepared.daemon {
        if let Some(path) = prepared.pidfile.as_ref().filter(|p| p.exists()) {
            bail!(
                "Error in pidfile creation: {} already exists",
                path.display()
            );
        }
        match fork_daemon().context("cannot daemonize")? {
            Forked::Parent { ready: true } => return Ok(()),
            Forked::Parent { ready: false } => {
                bail!("the switch daemon failed to start; its reason is in the system log")
            }
            Forked::Daemon(ready) => Some(ready),
        }
    } else {
        None
    };
    init_logging(prepared.daemon);
    if let Some(path) = &prepared.pidfile {
        write_pidfile(path)?;
    }
    if let Some(ready) = ready {
        ready.notify();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let taps = std::mem::take(&mut prepared.taps);
    let result = runtime.block_on(serve(&prepared, taps, companion));
    prepared.ctl.1.remove();
    prepared.mgmt.1.remove();
    if let Some((_, bound)) = &prepared.stream {
        bound.remove();
    }
    let _ = std::fs::remove_dir(&prepared.dir);
    if let Some(path) = &prepared.pidfile {
        let _ = std::fs::remove_file(path);
    }
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

async fn serve(p: &Prepared, taps: Vec<OpenTap>, companion: Option<Companion>) -> Result<()> {
    let clock = Clock::start();
    let datapath = Arc::new(Datapath::new(
        Switch::new(p.config.clone(), mac_table_hasher()),
        clock,
    ));
    let shutdown = Arc::new(Notify::new());
    let dhcp = p
        .dhcp
        .clone()
        .map(|setup| DhcpPort::start(setup, &datapath))
        .transpose()?;
    let stop = Arc::new(Notify::new());
    let links = Links::new(
        Arc::clone(&datapath),
        p.state_dir.clone(),
        p.links.as_ref().map(|l| l.node_key),
        Timers::default(),
    );
    let (extra, mut companion) = match companion {
        Some(start) => {
            let (extra, fut) = start(CompanionCtx {
                datapath: Arc::clone(&datapath),
                stop: Arc::clone(&stop),
                links: Arc::clone(&links),
            });
            (Some(extra), Some(fut))
        }
        None => (None, None),
    };

    let vde = VdeServer::new(
        Arc::clone(&datapath),
        SocketPolicy {
            dir: p.dir.clone(),
            mode: p.ctl_mode,
            group: p.group,
        },
    );
    let console = Console::new(
        Arc::clone(&datapath),
        Arc::clone(&vde),
        Some((p.mgmt.1.path.clone(), p.mgmt_mode)),
        (p.dir.clone(), p.ctl_mode),
        Arc::clone(&shutdown),
        Services {
            dhcp: dhcp.clone(),
            links: Arc::clone(&links),
            extra,
        },
        p.max_consoles,
    );
    // The rc script runs before any client can attach, as in vde_switch.
    if let Some((path, text)) = &p.rc {
        let mut ignored = String::new();
        console.run_script(path, text, 1, ScriptMode::Startup, &mut ignored);
        info!(script = %path, "ran the rc script");
    }
    tokio::spawn(Arc::clone(&vde).serve(tokio_listener(&p.ctl.0)?));
    for tap in taps {
        let name = tap.name().to_string();
        tap.attach(&datapath)
            .with_context(|| format!("-t/--tap {name}"))?;
    }
    if let Some((listener, bound)) = &p.stream {
        let server = StreamServer::new(Arc::clone(&datapath), bound.path.clone());
        tokio::spawn(server.serve(tokio_listener(listener)?));
        info!(path = %bound.path.display(), "listening for qemu -netdev stream");
    }
    tokio::spawn(Arc::clone(&console).serve(tokio_listener(&p.mgmt.0)?));
    if !p.daemon && std::io::stdin().is_terminal() {
        tokio::spawn(Arc::clone(&console).stdin_console());
    }
    tokio::spawn(timers(Arc::clone(&datapath)));
    if let Some(setup) = &p.links {
        start_links(setup, &links)?;
    }

    info!(
        dir = %p.dir.display(),
        mgmt = %p.mgmt.1.path.display(),
        mac = %p.config.mac,
        numports = p.config.numports,
        fstp = p.config.fstp && !p.config.hub,
        "switch ready; attach qemu with: -netdev vde,id=n0,sock={} -device virtio-net-pci,netdev=n0",
        p.dir.display()
    );
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut failed = None;
    tokio::select! {
        () = shutdown.notified() => info!("shutdown requested on the console"),
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = int.recv() => info!("SIGINT: shutting down"),
        _ = hup.recv() => info!("SIGHUP: shutting down"),
        result = async {
            match companion.as_mut() {
                Some(f) => f.as_mut().await,
                None => std::future::pending().await,
            }
        } => {
            failed = Some(result.err().unwrap_or_else(|| anyhow::anyhow!("the room session ended")));
        }
    }
    if let Some(fut) = companion.filter(|_| failed.is_none()) {
        stop.notify_one();
        if tokio::time::timeout(Duration::from_secs(2), fut)
            .await
            .is_err()
        {
            warn!("the room session did not finish in time");
        }
    }
    for path in vde.data_socket_paths() {
        let _ = std::fs::remove_file(path);
    }
    if let Some(dhcp) = &dhcp {
        dhcp.flush(datapath.now());
    }
    failed.map_or(Ok(()), Err)
}

/// Listen and dial as `--listen` and `--connect` asked.
fn start_links(setup: &LinkSetup, links: &Arc<Links>) -> Result<()> {
    if let Some(l) = &setup.listener {
        let addr = l.local_addr().context("link listener")?;
        let l = l.try_clone().context("cannot clone the link listener")?;
        let l =
            tokio::net::TcpListener::from_std(l).context("cannot register the link listener")?;
        links.listen(l, setup.network_key)?;
        info!(%addr, "listening for links");
    }
    for peer in &setup.connect {
        links.add_dialed(peer, setup.network_key)?;
        info!(%peer, "dialing a link");
    }
    Ok(())
}

/// The timer task: run the core's timers at its deadlines (hellos every 4 s,
/// paced BPDUs 10 ms apart, MAC aging), or earlier when woken by a change.
async fn timers(datapath: Arc<Datapath>) {
    // Never spin: a deadline already past is retried after this pause.
    const MIN_PAUSE: Duration = Duration::from_millis(1);
    loop {
        let next = datapath.service();
        let at = datapath
            .clock()
            .os_instant(next)
            .max(std::time::Instant::now() + MIN_PAUSE);
        tokio::select! {
            () = tokio::time::sleep_until(at.into()) => {}
            () = datapath.woken() => {}
        }
    }
}

fn tokio_listener(listener: &StdUnixListener) -> Result<UnixListener> {
    let l = listener.try_clone().context("cannot clone listener")?;
    l.set_nonblocking(true)
        .context("cannot make listener non-blocking")?;
    UnixListener::from_std(l).context("cannot register listener")
}

/// vde_switch's mode rules (datasock.c `init`): `-m` alone also sets the
/// directory mode (setgid plus x wherever r or w is given); `--dirmode` alone
/// also sets the socket mode (its rw bits).
fn modes(mode: Option<u32>, dirmode: Option<u32>) -> (u32, u32) {
    match (mode, dirmode) {
        (None, None) => (DEFAULT_CTL_MODE, DEFAULT_DIR_MODE),
        (Some(m), None) => {
            let mut d = 0o2000 | (m & 0o666);
            for shift in [6, 3, 0] {
                if (m >> shift) & 0o6 != 0 {
                    d |= 0o1 << shift;
                }
            }
            (m, d)
        }
        (None, Some(d)) => (d & 0o666, d),
        (Some(m), Some(d)) => (m, d),
    }
}

/// Bind a listening stream socket at `path`, replacing a stale one; refuse
/// when another process still answers there.
fn bind_listener(
    path: &Path,
    mode: u32,
    group: Option<u32>,
) -> Result<(StdUnixListener, BoundSocket)> {
    if path.exists() {
        if StdUnixStream::connect(path).is_ok() {
            bail!(
                "Could not bind to socket {}: another switch is running there",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
        warn!(path = %path.display(), "removed a stale socket");
    }
    let listener = StdUnixListener::bind(path)
        .with_context(|| format!("Could not bind to socket {}", path.display()))?;
    sys::chmod(path, mode).with_context(|| format!("cannot set mode of {}", path.display()))?;
    if group.is_some() {
        sys::chown(path, None, group)
            .with_context(|| format!("cannot set group of {}", path.display()))?;
    }
    let inode = std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0);
    Ok((
        listener,
        BoundSocket {
            path: path.to_path_buf(),
            inode,
        },
    ))
}

fn write_pidfile(path: &Path) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .with_context(|| format!("Error in pidfile creation: {}", path.display()))?;
    writeln!(f, "{}", std::process::id())
        .with_context(|| format!("cannot write pidfile {}", path.display()))
}

fn absolute(path: PathBuf) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path);
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(cwd.join(path))
}

/// vde_switch's default: a random address in 00:ff:xx:xx:xx:xx.
fn random_switch_mac() -> MacAddr {
    let r: [u8; 4] = rand::random();
    MacAddr([0x00, 0xff, r[0], r[1], r[2], r[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_rules_match_vde_switch() {
        assert_eq!(modes(None, None), (0o600, 0o2700));
        assert_eq!(modes(Some(0o660), None), (0o660, 0o2770));
        assert_eq!(modes(Some(0o666), None), (0o666, 0o2777));
        assert_eq!(modes(Some(0o600), None), (0o600, 0o2700));
        assert_eq!(modes(None, Some(0o2775)), (0o664, 0o2775));
    }
}
