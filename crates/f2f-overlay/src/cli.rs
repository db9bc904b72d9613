//! The command line (spec/cli.md), parsed with clap.
//!
//! `f2f-overlay switch` takes every flag of vde_switch 2.3.2 with its meaning
//! there, so the binary can stand in for `vde_switch` through a symlink.
//! Flags whose feature has not landed yet are parsed and refused with a clear
//! "not supported yet" error instead of being silently ignored.

use std::path::PathBuf;

use std::net::Ipv4Addr;

use clap::{ArgAction, Args, Parser, Subcommand};
use f2f_core::dhcp::{IpRange, Ipv4Net, Reservation};
use f2f_core::mac::MacAddr;
use f2f_core::vm::AccelChoice;

/// A drop-in vde_switch and friend-to-friend Ethernet overlay.
#[derive(Debug, Parser)]
#[command(name = "f2f-overlay", version, about, propagate_version = true)]
pub struct Cli {
    /// What to run; with none, a switch on the default control directory.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a switch (also what `vde_switch` runs when it is a symlink to us).
    Switch(Box<SwitchArgs>),
    /// The switch's management console: interactive with line editing and
    /// history, or one command for scripts (exit status 1 when it fails).
    Console(ConsoleArgs),
    /// Connect stdin/stdout to a VDE switch as vde_plug's byte stream (also
    /// what `vde_plug` runs when it is a symlink to us).
    Plug(PlugArgs),
    /// Show a running switch: ports, counters, MAC table, VLANs.
    Status(StatusArgs),
    /// Write the frames passing a port (both directions) to a pcap file.
    Capture(CaptureArgs),
    /// Run a qemu VM from a base image on a switch: a qcow2 overlay per run
    /// (the base is never written), the serial console to a log file.
    Vm(VmArgs),
    /// Write a new network key for links (`--key FILE`): 32 random bytes,
    /// base64, mode 0600; never overwrites.
    Keygen(KeygenArgs),
    /// Join an XMPP room: run a switch, get its parameters from the room's
    /// master and link it to the other members' switches.
    Join(Box<JoinArgs>),
}

/// `--topology`: how the room's switches are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopologyArg {
    /// Every member links to the master.
    Star,
    /// Every pair of members links; the spanning tree removes the loops.
    Mesh,
}

/// `--transport`: how links carry frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportArg {
    /// Direct TCP when the peer is reachable, else through the XMPP server.
    Auto,
    /// Direct TCP links only.
    Tcp,
    /// Frames as stanzas through the XMPP server only.
    Xmpp,
}

/// `f2f-overlay join ROOM@conference.HOST --jid USER@HOST --password-file FILE ...`.
///
/// Every switch flag applies; `-t/--tap NAME` here creates the tap when the
/// master's grant arrives, with the granted MAC address (the second tap gets
/// the second granted address, and so on).
#[derive(Debug, Clone, Args)]
#[command(disable_version_flag = true, args_override_self = true)]
pub struct JoinArgs {
    /// The room, e.g. lan@conference.example.org.
    #[arg(value_name = "ROOM")]
    pub room: String,
    /// Our XMPP account, USER@HOST.
    #[arg(long, value_name = "JID")]
    pub jid: String,
    /// File holding the account's password (a trailing newline is ignored).
    #[arg(long = "password-file", value_name = "FILE")]
    pub password_file: PathBuf,
    /// The XMPP server, HOST:PORT (default: the JID's domain, port 5222).
    /// Plaintext only when HOST is a loopback address; otherwise STARTTLS.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Extra CA certificate(s) to verify the server with (PEM), besides the
    /// system's.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Be the room's master: create the room, grant parameters, serve DHCP.
    #[arg(long)]
    pub master: bool,
    /// The room's subnet, served by the master's DHCP server.
    #[arg(
        long = "subnet",
        value_name = "CIDR",
        default_value = "192.168.254.0/24",
        requires = "master"
    )]
    pub room_subnet: Ipv4Net,
    /// How the room's switches are wired.
    #[arg(long, value_enum, default_value = "star", requires = "master")]
    pub topology: TopologyArg,
    /// Follow only the master with this JID (default: the room's owner).
    #[arg(long = "master-jid", value_name = "JID")]
    pub master_jid: Option<String>,
    /// How links carry frames.
    #[arg(long, value_enum, default_value = "auto")]
    pub transport: TransportArg,
    /// The address peers dial for direct links (default: --listen when it is
    /// a specific address).
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Start a VM on this image (a disk or an image bundle) with the granted
    /// MAC, attached to this switch, once the grant is applied and the switch
    /// is wired; it stops when join exits. `room:` takes the bundle the
    /// master offers (`--serve-image`), fetched over a direct connection to
    /// the master into STATE/images/NAME/ (hash-checked, resumable, kept).
    #[arg(long, value_name = "IMAGE")]
    pub vm: Option<PathBuf>,
    /// Offer this image bundle to the room's members (master only): members
    /// started with `--vm room:` fetch it from this node's `--listen` port,
    /// over the same encrypted connection links use, never through the
    /// XMPP server.
    #[arg(long = "serve-image", value_name = "BUNDLE", requires_all = ["master", "listen"])]
    pub serve_image: Option<PathBuf>,
    /// Most bytes per second sent to each member fetching the image
    /// (default: no limit), e.g. to leave room on a slow uplink.
    #[arg(
        long = "serve-image-rate",
        value_name = "BYTES",
        requires = "serve_image"
    )]
    pub serve_image_rate: Option<u64>,
    /// The VM's kernel command line, replacing the bundle's (e.g. to add
    /// tvm_sweep=N for the master image's sweep).
    #[arg(long = "vm-append", value_name = "A", requires = "vm")]
    pub vm_append: Option<String>,
    /// The VM's memory in MB (default: the bundle's).
    #[arg(long = "vm-memory", value_name = "MB", requires = "vm")]
    pub vm_memory: Option<u32>,
    /// The switch.
    #[command(flatten)]
    pub switch: SwitchArgs,
}

/// `f2f-overlay keygen FILE`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// The key file to create.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Options every subcommand has.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where a client finds a running switch's management socket.
#[derive(Debug, Clone, Args)]
pub struct SwitchAddr {
    /// The switch's control directory; its management socket is DIR/mgmt
    /// (default: vde_switch's default directory).
    #[arg(
        short = 's',
        long = "sock",
        value_name = "DIR",
        conflicts_with = "mgmt"
    )]
    pub sock: Option<PathBuf>,
    /// The switch's management socket (its -M).
    #[arg(short = 'M', long = "mgmt", value_name = "PATH")]
    pub mgmt: Option<PathBuf>,
}

/// `f2f-overlay console [-s DIR | -M PATH] [CMD...]`.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// Which switch.
    #[command(flatten)]
    pub at: SwitchAddr,
    /// One command to run (its words joined by spaces), e.g. `port/print 3`;
    /// without it, an interactive console.
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
    /// Options every subcommand has.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `f2f-overlay status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Which switch.
    #[command(flatten)]
    pub at: SwitchAddr,
    /// Print the switch's JSON document (one line; format in docs/status-json.md).
    #[arg(long)]
    pub json: bool,
    /// Options every subcommand has.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `f2f-overlay capture`.
#[derive(Debug, Clone, Args)]
pub struct CaptureArgs {
    /// Which switch.
    #[command(flatten)]
    pub at: SwitchAddr,
    /// The port to capture (see `f2f-overlay status`).
    #[arg(value_name = "PORT", value_parser = parse_port)]
    pub port: u16,
    /// The pcap file to write (replaced if it exists), or - for stdout.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Stop after this many frames (default: until Ctrl-C).
    #[arg(short = 'c', long = "count", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Options every subcommand has.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `f2f-overlay vm IMAGE`.
#[derive(Debug, Clone, Args)]
pub struct VmArgs {
    /// A disk image (qcow2 or raw) or an image bundle: a directory with
    /// image.toml.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// The switch's control directory (default: vde_switch's default
    /// directory).
    #[arg(short = 's', long = "sock", value_name = "DIR")]
    pub sock: Option<PathBuf>,
    /// The VM's name: its directory under STATE_DIR/vms/ (default: the
    /// image's name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The NIC's MAC (default: random 52:54:00:xx:xx:xx).
    #[arg(long, value_name = "MAC")]
    pub mac: Option<MacAddr>,
    /// Guest memory in MB (default: the bundle's, else 128).
    #[arg(long, value_name = "MB")]
    pub memory: Option<u32>,
    /// KVM or TCG; auto uses KVM only when /dev/kvm opens and the CPU has
    /// vmx/svm.
    #[arg(long, value_name = "auto|kvm|tcg", default_value = "auto")]
    pub accel: AccelChoice,
    /// Kernel for direct kernel boot (overrides the bundle's).
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk (overrides the bundle's).
    #[arg(long, value_name = "FILE")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line (replaces the bundle's).
    #[arg(long, value_name = "CMDLINE")]
    pub append: Option<String>,
    /// Keep the overlay after a clean stop too (it is always kept when the VM
    /// fails).
    #[arg(long)]
    pub keep_overlay: bool,
    /// Options every subcommand has.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options every subcommand has.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides.
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,
    /// State directory (default /var/lib/f2f-overlay as root, else
    /// $XDG_STATE_HOME/f2f-overlay).
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
}

/// `f2f-overlay switch`: vde_switch's flags, plus ours.
#[derive(Debug, Clone, Args)]
#[command(disable_version_flag = true, args_override_self = true)]
pub struct SwitchArgs {
    /// Control directory (vde_switch's -s/--sock/--vdesock/--unix).
    #[arg(short = 's', long = "sock", visible_aliases = ["vdesock", "unix"], value_name = "DIR")]
    pub sock: Option<PathBuf>,
    /// Management socket (default: DIR/mgmt).
    #[arg(short = 'M', long = "mgmt", value_name = "PATH")]
    pub mgmt: Option<PathBuf>,
    /// Management socket mode, octal (default 0600).
    #[arg(long = "mgmtmode", value_name = "MODE", value_parser = parse_octal)]
    pub mgmt_mode: Option<u32>,
    /// Management socket group.
    #[arg(long = "mgmtgroup", value_name = "GROUP")]
    pub mgmt_group: Option<String>,
    /// Number of ports (default 32).
    #[arg(short = 'n', long = "numports", value_name = "N", value_parser = parse_c_usize)]
    pub numports: Option<usize>,
    /// Act as a hub: every frame to every other port.
    #[arg(short = 'x', long = "hub")]
    pub hub: bool,
    /// Fast spanning tree, as vde_switch -F (ignored in hub mode).
    #[arg(short = 'F', long = "fstp")]
    pub fstp: bool,
    /// Daemonize once the sockets exist; logs go to syslog.
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Write the pid to this file (refused if it exists).
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
    /// Mode of the control socket, octal (default 0600).
    #[arg(short = 'm', long = "mode", visible_alias = "mod", value_name = "MODE", value_parser = parse_octal)]
    pub mode: Option<u32>,
    /// Mode of the control directory, octal (default 02700).
    #[arg(long = "dirmode", value_name = "MODE", value_parser = parse_octal)]
    pub dirmode: Option<u32>,
    /// Group owning the control directory and sockets.
    #[arg(short = 'g', long = "group", value_name = "GROUP")]
    pub group: Option<String>,
    /// The switch's MAC address (default random 00:ff:xx:xx:xx:xx).
    #[arg(long = "macaddr", value_name = "MAC")]
    pub macaddr: Option<MacAddr>,
    /// Spanning-tree bridge priority, low 16 bits used (default 32768).
    #[arg(long = "priority", value_name = "N", value_parser = parse_c_usize)]
    pub priority: Option<usize>,
    /// Hash table size: a sizing hint only, as in vde_switch.
    #[arg(long = "hashsize", value_name = "N", value_parser = parse_c_usize)]
    pub hashsize: Option<usize>,
    /// Console commands to run at start, one per line (default:
    /// ~/.vde2/vde_switch.rc, else /etc/vde2/vde_switch.rc, if readable).
    #[arg(short = 'f', long = "rcfile", value_name = "FILE")]
    pub rcfile: Option<PathBuf>,
    /// Attach a Linux tap interface as a port, creating it if missing
    /// (repeatable).
    #[arg(short = 't', long = "tap", value_name = "TAP")]
    pub tap: Vec<String>,

    /// Open taps without virtio-net headers and offloads: every frame
    /// crosses the switch as an ordinary one (by default the host's TCP
    /// hands taps segments of up to 64 KiB that cross whole)
    #[arg(long = "no-tap-offloads")]
    pub no_tap_offloads: bool,
    /// Listen on this unix stream socket for qemu `-netdev stream` (4-byte
    /// big-endian length framing); each connection is a port.
    #[arg(long = "stream-listen", value_name = "PATH")]
    pub stream_listen: Option<PathBuf>,
    /// Accept links from other switches on this TCP address (e.g.
    /// 0.0.0.0:7000); needs --key (with join: the room's key, from the grant).
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Dial a link to the switch listening there, and keep it up
    /// (repeatable; host names are resolved at each attempt); needs --key.
    #[arg(long = "connect", value_name = "HOST:PORT")]
    pub connect: Vec<String>,
    /// The network key links must prove (made by `f2f-overlay keygen`).
    #[arg(long = "key", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Number of debug clients (accepted and ignored, as vde_switch 2.3.2
    /// does: any console may `debug/add`).
    #[arg(short = 'D', long = "debugclients", value_name = "N")]
    pub debugclients: Option<String>,
    /// Capacity of the MAC table; the oldest entry is evicted when full
    /// [default: 65536].
    #[arg(long = "max-macs", value_name = "N")]
    pub max_macs: Option<usize>,
    /// Largest frame forwarded, up to 65535; larger ones are dropped and
    /// counted [default: 1518].
    #[arg(long = "max-frame", value_name = "BYTES", value_parser = parse_max_frame)]
    pub max_frame: Option<usize>,
    /// Port security: at most N addresses learned per port; frames from
    /// further new source addresses are dropped and counted (`mac_limit`);
    /// 0 for no limit [default: no limit but --max-macs].
    #[arg(long = "port-max-macs", value_name = "N", value_parser = parse_c_usize)]
    pub port_max_macs: Option<usize>,
    /// Most management console sessions open at once; more are refused with
    /// a log line [default: 64].
    #[arg(long = "max-consoles", value_name = "N", value_parser = parse_c_usize)]
    pub max_consoles: Option<usize>,
    /// Settings from a TOML file (keys are the long flag names); flags given
    /// on the command line override it.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The DHCP server inside the switch.
    #[command(flatten)]
    pub dhcp: DhcpArgs,
    /// Print the version and exit (vde_switch's -v).
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
    /// Options every subcommand has.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `--dhcp*`: serve DHCP from inside the switch (spec/cli.md).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "DHCP server")]
pub struct DhcpArgs {
    /// Serve DHCP on this subnet, e.g. 10.0.0.0/24; the switch answers ARP and
    /// ping on its server address.
    #[arg(long = "dhcp", value_name = "CIDR")]
    pub subnet: Option<Ipv4Net>,
    /// Addresses handed out (default: every host of the subnet but the server's).
    #[arg(long = "dhcp-range", value_name = "A-B")]
    pub range: Option<IpRange>,
    /// Lease time in seconds (default 3600).
    #[arg(long = "dhcp-lease-time", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..u64::from(u32::MAX)))]
    pub lease_time: Option<u64>,
    /// Default gateway handed to clients.
    #[arg(long = "dhcp-router", value_name = "IP")]
    pub router: Option<Ipv4Addr>,
    /// DNS server handed to clients (repeatable).
    #[arg(long = "dhcp-dns", value_name = "IP")]
    pub dns: Vec<Ipv4Addr>,
    /// The server's own address (default: the first host of the subnet).
    #[arg(long = "dhcp-server-ip", value_name = "IP")]
    pub server_ip: Option<Ipv4Addr>,
    /// A fixed address for one MAC, e.g. 52:54:00:12:34:56=10.0.0.7 (repeatable).
    #[arg(long = "dhcp-reserve", value_name = "MAC=IP")]
    pub reserve: Vec<Reservation>,
    /// Lease file (default: STATE_DIR/leases.json).
    #[arg(long = "dhcp-lease-file", value_name = "PATH")]
    pub lease_file: Option<PathBuf>,
}

impl DhcpArgs {
    /// The `--dhcp-*` settings given without `--dhcp CIDR` (from flags or the
    /// config file), which would otherwise be silently ignored.
    pub fn without_subnet(&self) -> Vec<&'static str> {
        if self.subnet.is_some() {
            return Vec::new();
        }
        [
            ("--dhcp-range", self.range.is_some()),
            ("--dhcp-lease-time", self.lease_time.is_some()),
            ("--dhcp-router", self.router.is_some()),
            ("--dhcp-dns", !self.dns.is_empty()),
            ("--dhcp-server-ip", self.server_ip.is_some()),
            ("--dhcp-reserve", !self.reserve.is_empty()),
            ("--dhcp-lease-file", self.lease_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// The switch flags as a standalone command, for the `vde_switch` name.
#[derive(Debug, Parser)]
#[command(
    name = "vde_switch",
    version,
    about = "Runs a VDE switch (f2f-overlay).",
    disable_version_flag = true,
    args_override_self = true
)]
pub struct VdeSwitchCli {
    /// The switch options.
    #[command(flatten)]
    pub args: SwitchArgs,
}

/// `f2f-overlay plug`: one switch, stdin/stdout as the 2-byte length stream.
#[derive(Debug, Clone, Args)]
pub struct PlugArgs {
    /// Port to attach to (0 = port 0, the management port; default any free
    /// one). A `[N]` or `[port=N]` suffix on the URL does the same.
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub port: Option<u32>,
    /// The switch and the connection's settings.
    #[command(flatten)]
    pub plug: PlugOptions,
    /// Options every subcommand has.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options `f2f-overlay plug` and `vde_plug` share.
#[derive(Debug, Clone, Args)]
pub struct PlugOptions {
    /// Description shown by the switch's `port/print` (default "vdeplug:";
    /// " user=NAME pid=PID" is appended as libvdeplug does).
    #[arg(short = 'D', long = "descr", value_name = "DESCR")]
    pub descr: Option<String>,
    /// Mode of our data socket, octal (default 0700).
    #[arg(short = 'm', long = "mod", visible_alias = "mode", value_name = "MODE", value_parser = parse_octal)]
    pub mode: Option<u32>,
    /// Group of our data socket.
    #[arg(short = 'g', long = "group", value_name = "GROUP")]
    pub group: Option<String>,
    /// The switch: `DIR`, `vde://DIR`, optionally with `[N]` or
    /// `[port=N/mode=M/group=G]` after it; none for the default switch
    /// (/var/run/vde.ctl, else /tmp/vde.ctl). Then, as vde_plug: a second
    /// switch URL (a cable between the two), or `= COMMAND [ARGS]` (the
    /// stream goes to the command's stdin/stdout instead of ours).
    #[arg(
        value_name = "URL",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub url: Vec<String>,
}

/// vde_plug's options for the second switch of `vde_plug URL1 URL2`.
#[derive(Debug, Clone, Default, Args)]
pub struct SecondPlug {
    /// The second switch's port.
    #[arg(long = "port2", value_name = "PORT")]
    pub port2: Option<u32>,
    /// Group of our data socket on the second switch.
    #[arg(short = 'G', long = "group2", value_name = "GROUP")]
    pub group2: Option<String>,
    /// Mode of our data socket on the second switch, octal.
    #[arg(short = 'M', long = "mod2", value_name = "MODE", value_parser = parse_octal)]
    pub mode2: Option<u32>,
}

/// vde_plug's command line, for the `vde_plug` name: there `-p` is the pid
/// file and the port is `--port` (vdeplug 4.0.1's `vde_plug --help`).
#[derive(Debug, Parser)]
#[command(
    name = "vde_plug",
    version,
    about = "A VDE plug: stdin/stdout as a byte stream of frames (f2f-overlay).",
    disable_version_flag = true
)]
pub struct VdePlugCli {
    /// Write our pid to this file (removed at exit).
    #[arg(short = 'p', long = "pidfile", value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,
    /// The switch port (obsolete in vde_plug: use the `[port]` URL suffix).
    #[arg(long = "port", value_name = "PORT")]
    pub port: Option<u32>,
    /// Daemonize (not supported: a stream plug needs its stdin and stdout).
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Log start and stop to syslog (not supported yet).
    #[arg(short = 'l', long = "log")]
    pub log: bool,
    /// Log start, stop and IP addresses to syslog (not supported yet).
    #[arg(short = 'L', long = "iplog")]
    pub iplog: bool,
    /// The second switch's settings (`vde_plug URL1 URL2`).
    #[command(flatten)]
    pub second: SecondPlug,
    /// The switch and the connection's settings.
    #[command(flatten)]
    pub plug: PlugOptions,
}

impl VdePlugCli {
    /// Refuse vde_plug options whose feature has not landed, naming them.
    pub fn refuse_unsupported(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if self.daemon {
            bad.push("-d/--daemon");
        }
        if self.log || self.iplog {
            bad.push("-l/--log, -L/--iplog");
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("not supported yet: {}", bad.join(", ")))
        }
    }
}

/// Parse an octal mode such as `0660` or `660`.
pub fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal mode like 0660"))
}

/// Parse `--max-frame`: 14 (a bare header) to 65535.
pub fn parse_max_frame(s: &str) -> Result<usize, String> {
    let range = f2f_core::switch::ETH_HEADER_LEN..=f2f_core::switch::MAX_FRAME_LIMIT;
    parse_c_usize(s)
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| format!("{s:?}: the largest frame must be between 14 and 65535 bytes"))
}

/// Parse a port number (0..65535, C's `%i` forms).
pub fn parse_port(s: &str) -> Result<u16, String> {
    parse_c_usize(s)
        .ok()
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| format!("{s:?} is not a port number (0..65535)"))
}

/// Parse a non-negative integer as C's `%i` (decimal, 0x hex, 0 octal).
pub fn parse_c_usize(s: &str) -> Result<usize, String> {
    f2f_core::console::parse_c_int(s)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| format!("{s:?} is not a non-negative number"))
}

impl SwitchArgs {
    /// Refuse flags whose feature has not landed, naming them. Every flag of
    /// vde_switch 2.3.2 is supported now; flags of later features are
    /// refused here, in one place.
    pub fn refuse_unsupported(&self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        VdeSwitchCli::command().debug_assert();
    }

    #[test]
    fn vde_switch_spellings() {
        let c = VdeSwitchCli::try_parse_from([
            "vde_switch",
            "--unix",
            "/tmp/x",
            "-m",
            "0660",
            "--mod",
            "0666",
            "-n",
            "0x10",
            "-x",
        ]);
        let a = c.unwrap().args;
        assert_eq!(a.sock.unwrap().to_str(), Some("/tmp/x"));
        assert_eq!(a.mode, Some(0o666));
        assert_eq!(a.numports, Some(16));
        assert!(a.hub);
        let f = VdeSwitchCli::try_parse_from(["vde_switch", "-F", "--priority", "0x1000"])
            .unwrap()
            .args;
        assert!(f.fstp && f.priority == Some(0x1000));
        assert!(f.refuse_unsupported().is_ok());
        let j = Cli::try_parse_from([
            "f2f-overlay",
            "join",
            "r@conference.h",
            "--jid",
            "u@h",
            "--password-file",
            "p",
            "--master",
            "--subnet",
            "10.1.0.0/24",
            "--topology",
            "mesh",
            "-s",
            "/d",
            "--tap",
            "t0",
        ]);
        match j.unwrap().command {
            Some(Command::Join(a)) => {
                assert_eq!(a.room_subnet.to_string(), "10.1.0.0/24");
                assert_eq!((a.topology, a.switch.tap.len()), (TopologyArg::Mesh, 1));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from([
            "f2f-overlay",
            "join",
            "r@c.h",
            "--jid",
            "u@h",
            "--password-file",
            "p",
            "--subnet",
            "10.1.0.0/24",
        ])
        .is_err());
        let join = |extra: &[&str]| {
            let mut argv = vec!["f2f-overlay", "join", "r@c.h", "--jid", "u@h"];
            argv.extend(["--password-file", "p"]);
            argv.extend(extra);
            Cli::try_parse_from(argv)
        };
        let vm = join(&["--vm", "/img/slave", "--vm-append", "tvm_sweep=5"]);
        match vm.unwrap().command {
            Some(Command::Join(a)) => {
                assert_eq!(a.vm.unwrap().to_str(), Some("/img/slave"));
                assert_eq!(a.vm_append.as_deref(), Some("tvm_sweep=5"));
                assert_eq!(a.vm_memory, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            join(&["--vm-append", "x"]).is_err(),
            "--vm-append needs --vm"
        );
        assert!(
            join(&["--vm-memory", "64"]).is_err(),
            "--vm-memory needs --vm"
        );
        let c = Cli::try_parse_from(["f2f-overlay", "capture", "-s", "/d", "0x2", "-", "-c", "5"]);
        match c.unwrap().command {
            Some(Command::Capture(a)) => {
                assert_eq!((a.port, a.count, a.file.to_str()), (2, Some(5), Some("-")));
                assert_eq!(a.at.sock.unwrap().to_str(), Some("/d"));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["f2f-overlay", "capture", "1", "f", "-c", "0"]).is_err());
        assert!(Cli::try_parse_from(["f2f-overlay", "status", "-s", "/d", "-M", "/m"]).is_err());
        let v = VdeSwitchCli::try_parse_from(["vde_switch", "-v"]).unwrap_err();
        assert_eq!(v.kind(), clap::error::ErrorKind::DisplayVersion);
        let rc = VdeSwitchCli::try_parse_from(["vde_switch", "-f", "/etc/sw.rc"]).unwrap();
        assert!(rc.args.refuse_unsupported().is_ok());
    }

    #[test]
    fn vm_arguments() {
        let c = Cli::try_parse_from([
            "f2f-overlay",
            "vm",
            "/img/master",
            "-s",
            "/tmp/sw",
            "--name",
            "m1",
            "--mac",
            "52:54:00:00:00:01",
            "--memory",
            "96",
            "--accel",
            "tcg",
            "--append",
            "console=ttyS0 tvm_sweep=4",
        ])
        .unwrap();
        let Some(Command::Vm(a)) = c.command else {
            panic!("not the vm subcommand");
        };
        assert_eq!(a.image.to_str(), Some("/img/master"));
        assert_eq!(a.sock.unwrap().to_str(), Some("/tmp/sw"));
        assert_eq!((a.name.as_deref(), a.memory), (Some("m1"), Some(96)));
        assert_eq!(a.mac.unwrap().to_string(), "52:54:00:00:00:01");
        assert_eq!(a.accel, AccelChoice::Tcg);
        assert_eq!(a.append.as_deref(), Some("console=ttyS0 tvm_sweep=4"));
        let d = Cli::try_parse_from(["f2f-overlay", "vm", "img"]).unwrap();
        let Some(Command::Vm(d)) = d.command else {
            panic!("not the vm subcommand");
        };
        assert_eq!(d.accel, AccelChoice::Auto);
        assert!(Cli::try_parse_from(["f2f-overlay", "vm", "i", "--accel", "hvf"]).is_err());
        assert!(Cli::try_parse_from(["f2f-overlay", "vm", "i", "--mac", "zz"]).is_err());
        assert!(Cli::try_parse_from(["f2f-overlay", "vm"]).is_err());
    }

    #[test]
    fn console_arguments() {
        let c = Cli::try_parse_from(["f2f-overlay", "console", "-s", "/tmp/sw", "port/print", "3"])
            .unwrap();
        let Some(Command::Console(a)) = c.command else {
            panic!("not the console subcommand");
        };
        assert_eq!(a.at.sock.unwrap().to_str(), Some("/tmp/sw"));
        assert_eq!(a.command, ["port/print", "3"]);
        let c = Cli::try_parse_from([
            "f2f-overlay",
            "console",
            "-M",
            "/tmp/m",
            "hash/setexpire",
            "-1",
        ])
        .unwrap();
        let Some(Command::Console(a)) = c.command else {
            panic!("not the console subcommand");
        };
        assert_eq!(a.command, ["hash/setexpire", "-1"]);
        assert!(Cli::try_parse_from(["f2f-overlay", "console", "-s", "a", "-M", "b"]).is_err());
    }

    #[test]
    fn dhcp_flags() {
        let a = VdeSwitchCli::try_parse_from([
            "vde_switch",
            "--dhcp",
            "10.9.0.0/24",
            "--dhcp-range",
            "10.9.0.100-10.9.0.199",
            "--dhcp-lease-time",
            "600",
            "--dhcp-dns",
            "10.9.0.1",
            "--dhcp-dns",
            "9.9.9.9",
            "--dhcp-reserve",
            "52:54:00:00:00:07=10.9.0.7",
            "--dhcp-reserve",
            "52:54:00:00:00:08=10.9.0.8",
            "--dhcp-lease-file",
            "/tmp/l.json",
        ])
        .unwrap()
        .args
        .dhcp;
        assert_eq!(a.subnet.unwrap().to_string(), "10.9.0.0/24");
        assert_eq!(a.range.unwrap().to_string(), "10.9.0.100-10.9.0.199");
        assert_eq!(
            (a.lease_time, a.dns.len(), a.reserve.len()),
            (Some(600), 2, 2)
        );
        let e = VdeSwitchCli::try_parse_from(["vde_switch", "--dhcp", "10.9.0.1/24"]).unwrap_err();
        assert!(e.to_string().contains("did you mean 10.9.0.0/24"), "{e}");
        let a = VdeSwitchCli::try_parse_from(["vde_switch", "--dhcp-router", "10.9.0.1"])
            .unwrap()
            .args
            .dhcp;
        assert_eq!(a.without_subnet(), ["--dhcp-router"]);
        let e = VdeSwitchCli::try_parse_from([
            "vde_switch",
            "--dhcp",
            "10.9.0.0/24",
            "--dhcp-lease-time",
            "0",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn version_flag_of_vde_switch() {
        let v = VdeSwitchCli::try_parse_from(["vde_switch", "-v"]).unwrap_err();
        assert_eq!(v.kind(), clap::error::ErrorKind::DisplayVersion);
    }
}
