//! `f2f-overlay join ROOM`: check the account (one-shot preflight), start a
//! switch with every switch flag, then serve the room beside it: the XMPP
//! session, the room protocol and the links it asks for.
//!
//! The master (`--master`) serves DHCP on `--subnet` from its switch and
//! restores its grants from `STATE_DIR/rooms/ROOM/grants.json`, so a member
//! that rejoins, even after the master restarted, gets the same MACs (and so
//! the same DHCP lease).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use f2f_core::room::{
    Endpoint, LinkInfo, MasterParams, NetworkKey, Room, RoomConfig, Topology, TransportMode,
    DEFAULT_MACS_PER_MEMBER,
};
use tokio_xmpp::jid::BareJid;

use crate::cli::{JoinArgs, TopologyArg, TransportArg};
use crate::ports::xmpp::XmppLinks;
use crate::room::{load_grants, RoomDriver};
use crate::switchd::{self, Companion, CompanionCtx};
use crate::xmpp::connect::{preflight, Connector};
use crate::xmpp::session::{self, SessionConfig};
use crate::{config, logging, state};

/// File of the room's network key in `rooms/ROOM/` (the master's).
const KEY_FILE: &str = "network.key";

/// Run `join` until interrupted.
pub fn run(mut args: JoinArgs) -> Result<()> {
    config::apply(&mut args.switch)?;
    logging::init(args.switch.common.log_level.as_deref(), false);
    if args.switch.daemon {
        bail!("-d/--daemon is not supported with join yet: run it under a service manager");
    }
    if args.vm.is_some() {
        bail!(
            "--vm is not supported by join yet: start the VM yourself with \
             `f2f-overlay vm IMAGE -s DIR --mac MAC`, MAC one of the grant's that \
             `f2f-overlay status -s DIR` shows and no --tap uses"
        );
    }
    if args.transport == TransportArg::Tcp || args.switch.listen.is_some() {
        bail!(
            "direct TCP links are not available in this build yet: \
             use --transport xmpp (or auto) without --listen"
        );
    }
    let jid: BareJid = args
        .jid
        .parse()
        .with_context(|| format!("--jid {}: not a JID like user@example.org", args.jid))?;
    let Some(nick) = jid.node().map(|n| n.as_str().to_string()) else {
        bail!("--jid {jid}: needs a user part, like user@{jid}");
    };
    let room: BareJid = args
        .room
        .parse()
        .ok()
        .filter(|r: &BareJid| r.node().is_some())
        .with_context(|| {
            format!(
                "{}: not a room JID like lan@conference.example.org",
                args.room
            )
        })?;
    let password = read_password(&args.password_file)?;
    let connector = Connector::new(&jid, args.server.as_deref(), args.ca.as_deref())?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(preflight(&connector, &jid, &password))?;

    let dir = state::state_dir(args.switch.common.state_dir.as_deref())
        .join("rooms")
        .join(room.to_string());
    state::ensure_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let master = if args.master {
        if args.switch.dhcp.subnet.is_none() {
            args.switch.dhcp.subnet = Some(args.room_subnet);
        }
        if args.topology == TopologyArg::Mesh {
            args.switch.fstp = true;
        }
        Some(MasterParams {
            subnet: args.room_subnet,
            topology: match args.topology {
                TopologyArg::Star => Topology::Star,
                TopologyArg::Mesh => Topology::Mesh,
            },
            key: network_key(&dir)?,
            macs_per_member: DEFAULT_MACS_PER_MEMBER,
            seed: rand::random(),
            grants: load_grants(&dir)?,
        })
    } else {
        None
    };
    let advertise = args
        .advertise
        .as_deref()
        .map(|a| Endpoint::new(a).map_err(|e| anyhow::anyhow!("--advertise {a}: {e}")))
        .transpose()?;
    let room_config = RoomConfig {
        room: room.to_string(),
        nick: nick.clone(),
        jid: jid.to_string(),
        master,
        master_jid: args.master_jid.clone(),
        link: LinkInfo {
            endpoint: advertise,
            public_key: None,
            transport: match args.transport {
                TransportArg::Auto => TransportMode::Auto,
                TransportArg::Tcp => TransportMode::Tcp,
                TransportArg::Xmpp => TransportMode::Xmpp,
            },
        },
    };
    // Before the switch starts, so that unusable stored grants stop the
    // start with the reason (the switch's clock starts at zero too).
    let machine = Room::new(room_config, f2f_core::time::Instant::ZERO).map_err(|e| {
        anyhow::anyhow!(
            "{}: the stored grants cannot be used: {e}",
            dir.join(crate::room::GRANTS_FILE).display()
        )
    })?;
    let taps = std::mem::take(&mut args.switch.tap);
    let prepared = switchd::prepare(&args.switch)?;
    let session_config = SessionConfig {
        connector,
        jid,
        password,
        room,
        nick: nick.clone(),
    };
    let companion: Companion = Box::new(move |ctx: CompanionCtx| {
        let links = XmppLinks::new(Arc::clone(&ctx.datapath));
        let mut driver = RoomDriver::new(
            machine,
            nick,
            Arc::clone(&ctx.datapath),
            Arc::clone(&links),
            dir,
            taps,
        );
        let view: Arc<dyn crate::mgmt::StatusExtra> = driver.view();
        let fut = async move { session::run(session_config, links, &mut driver, &ctx.stop).await };
        (view, Box::pin(fut))
    });
    switchd::run_with(prepared, |_| {}, Some(companion))
}

/// The password in `path`, without its trailing newline.
fn read_password(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--password-file {}: cannot read it", path.display()))?;
    let password = text
        .strip_suffix('\n')
        .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if password.is_empty() {
        bail!("--password-file {}: the file is empty", path.display());
    }
    Ok(password.to_string())
}

/// The room's network key, made on first use and kept in `dir` (mode 0600).
fn network_key(dir: &Path) -> Result<NetworkKey> {
    let path = dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => NetworkKey::try_from(text.trim().to_string())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = NetworkKey(rand::random());
            let text: String = key.clone().into();
            state::write_atomic(&path, format!("{text}\n").as_bytes(), 0o600)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}
