//! A Prosody XMPP server of the test's own on a free loopback port (spec/xmpp-transport.md §1):
//! a config in a temp dir (no TLS, no `limits`, no `smacks`, Nagle off, large reads, MUC rooms
//! unlocked and without history), accounts written as `accounts/USER.dat` files, started in the
//! foreground and stopped with SIGTERM when the guard drops. [`Prosody::start_tls`] instead
//! requires STARTTLS, with a self-signed certificate for `localhost` made with openssl.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::run_ok;
use crate::proc::{Child, Spawn};
use crate::tmp::TempDir;
use crate::tools::require_tool;
use crate::wait_until;

/// The Prosody binary (Debian package `prosody`).
pub const PROSODY: &str = "/usr/bin/prosody";
/// The XMPP domain of the test server.
pub const DOMAIN: &str = "localhost";
/// The multi-user chat service of the test server.
pub const MUC_DOMAIN: &str = "conference.localhost";
/// The openssl command line tool (Debian package `openssl`), for [`Prosody::start_tls`].
pub const OPENSSL: &str = "/usr/bin/openssl";

/// The test needs Prosody.
pub fn require_prosody() -> bool {
    require_tool(PROSODY)
}

/// A running Prosody; stopped (SIGTERM, as its [`Child`] guard does) and its directory deleted
/// on drop.
#[derive(Debug)]
pub struct Prosody {
    // Field order: the process stops before its directory goes.
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Prosody {
    /// Starts Prosody on a free port of 127.0.0.1 and waits until it accepts connections
    /// (panics with its log if it does not within 5 s).
    pub fn start() -> Prosody {
        Prosody::configured(false)
    }

    /// Like [`Prosody::start`], but the server offers STARTTLS and requires it
    /// (`c2s_require_encryption`), with a self-signed certificate for `localhost` made for this
    /// server alone: [`Prosody::ca`].
    pub fn start_tls() -> Prosody {
        Prosody::configured(true)
    }

    fn configured(tls: bool) -> Prosody {
        let dir = TempDir::new("prosody");
        let port = free_port();
        for sub in ["data", "certs", "ca", "data/localhost/accounts"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create prosody dirs");
        }
        if tls {
            make_certificates(dir.path());
        }
        let config = dir.join("prosody.cfg.lua");
        std::fs::write(&config, config_text(dir.path(), port, tls)).expect("write prosody config");
        let child = launch(&dir, port);
        Prosody { child, port, dir }
    }

    /// Stops the server (SIGTERM: occupants see their streams close) and waits for it to exit.
    pub fn stop(&mut self) {
        self.child.stop();
    }

    /// Kills the server (SIGKILL: a crash; it saves nothing and says nothing) and reaps it.
    pub fn kill(&mut self) {
        self.child.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait_exit(Duration::from_secs(5));
    }

    /// Starts the stopped server again on the same port with the same data (accounts, and
    /// whatever rooms it persisted).
    pub fn start_again(&mut self) {
        self.child = launch(&self.dir, self.port);
    }

    /// Creates account `user@localhost` with `password` (takes effect at once).
    pub fn add_account(&self, user: &str, password: &str) {
        let path = self
            .dir
            .join("data/localhost/accounts")
            .join(format!("{}.dat", encode_node(user)));
        let password = password.replace('\\', "\\\\").replace('"', "\\\"");
        std::fs::write(
            path,
            format!("return {{ [\"password\"] = \"{password}\"; }};\n"),
        )
        .expect("write account file");
    }

    /// The c2s address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The server's log file.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
    }

    /// The certificate of a [`Prosody::start_tls`] server (self-signed: its own CA).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca/ca.pem")
    }

    /// The server's directory (config, data, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

/// Runs Prosody on `dir`'s config and waits until it accepts connections on `port` (panics
/// with its log if it does not within 5 s).
fn launch(dir: &TempDir, port: u16) -> Child {
    let mut cmd = Command::new(PROSODY);
    cmd.arg("--config")
        .arg(dir.join("prosody.cfg.lua"))
        .arg("-F");
    let mut child = Child::spawn("prosody", cmd, dir.path(), Spawn::default());
    let up = wait_until(Duration::from_secs(5), || {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() || !child.is_running()
    });
    assert!(
        up && child.is_running(),
        "prosody did not start on 127.0.0.1:{port}: {}\n{}",
        child.stderr(),
        std::fs::read_to_string(dir.join("prosody.log")).unwrap_or_default()
    );
    child
}

/// Prosody stores `user` under a file name with `%XX` escapes for anything but `[a-z0-9]`.
fn encode_node(user: &str) -> String {
    user.bytes()
        .map(|b| {
            if b.is_ascii_lowercase() || b.is_ascii_digit() {
                char::from(b).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// A self-signed P-256 certificate for `localhost` (also its subject alternative name), valid
/// for two days, marked CA:TRUE as `prosodyctl cert generate` makes them: `DIR/certs/localhost.
/// {crt,key}`, and a copy of the certificate as `DIR/ca/ca.pem` for the client's `--ca`.
fn make_certificates(dir: &Path) {
    run_ok(Command::new(OPENSSL).current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-keyout",
        "certs/localhost.key",
        "-out",
        "certs/localhost.crt",
    ]));
    std::fs::copy(dir.join("certs/localhost.crt"), dir.join("ca/ca.pem"))
        .expect("copy the certificate");
}

fn config_text(dir: &Path, port: u16, tls: bool) -> String {
    let d = dir.display();
    let tls_module = if tls { ", \"tls\"" } else { "" };
    let tls_settings = if tls {
        format!("ssl = {{ certificate = \"{d}/certs/localhost.crt\"; key = \"{d}/certs/localhost.key\"; }}\n")
    } else {
        String::new()
    };
    format!(
        r#"run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}/certs"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{d}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
modules_disabled = {{ "s2s", "s2s_auth_certs", "offline" }}
modules_enabled = {{ "disco", "saslauth", "ping"{tls_module} }}
c2s_stanza_size_limit = 16*1024*1024
authentication = "internal_plain"
c2s_require_encryption = {tls}
{tls_settings}allow_unencrypted_plain_auth = true
storage = "internal"
network_settings = {{ nagle = false }}
network_default_read_size = 262144

VirtualHost "{DOMAIN}"

Component "{MUC_DOMAIN}" "muc"
    muc_room_locking = false
    muc_room_default_history_length = 0
    muc_tombstones = false
"#
    )
}

/// Writes `password` (with a trailing newline, as an editor would) to `dir/NAME.pw`, mode
/// 0600, and returns the path.
pub fn password_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("{name}.pw"));
    std::fs::write(&path, format!("{password}\n")).expect("write password file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod password file");
    path
}
