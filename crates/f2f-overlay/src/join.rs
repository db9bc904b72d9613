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
use f2f_core::link::crypto::public_key;
use f2f_core::room::{
    Endpoint, LinkInfo, MasterParams, NetworkKey, Room, RoomConfig, Topology, TransportMode,
    DEFAULT_MACS_PER_MEMBER,
};
use tokio_xmpp::jid::BareJid;

use crate::cli::{JoinArgs, TopologyArg, TransportArg};
use crate::join_vm::run_beside;
use crate::ports::xmpp::XmppLinks;
use crate::provision::{offer_bundle, ROOM_IMAGE};
use crate::room::{load_grants, RoomDriver, RoomLinks, VmTrigger};
use crate::room_tcp::TcpLinks;
use crate::switchd::{self, Companion, CompanionCtx};
use crate::vm::VmOptions;
use crate::xmpp::connect::{preflight, Connector};
use crate::xmpp::session::{self, SessionConfig};
use crate::{config, keys, logging, state};

/// File of the room's network key in `rooms/ROOM/` (the master's).
const KEY_FILE: &str = "network.key";

/// Run `join` until interrupted.
pub fn run(mut args: JoinArgs) -> Result<()> {
    config::apply(&mut args.switch)?;
    logging::init(args.switch.common.log_level.as_deref(), false);
    if args.switch.daemon {
        bail!("-d/--daemon is not supported with join yet: run it under a service manager");
    }
    if let Some(image) = args.vm.as_ref().filter(|i| i.as_os_str() != ROOM_IMAGE) {
        // The full checks (a corrupt disk, qemu missing) come at launch; a
        // wrong path is worth refusing before joining the room.
        std::fs::metadata(image)
            .with_context(|| format!("--vm {}: the image cannot be read", image.display()))?;
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

    let state_dir = state::state_dir(args.switch.common.state_dir.as_deref());
    let dir = state_dir.join("rooms").join(room.to_string());
    state::ensure_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut master = if args.master {
        if args.switch.dhcp.subnet.is_none() {
            args.switch.dhcp.subnet = Some(args.room_subnet);
        }
        if args.topology == TopologyArg::Mesh {
            args.switch.fstp = true;
        }
        if args
            .vm
            .as_ref()
            .is_some_and(|i| i.as_os_str() == ROOM_IMAGE)
        {
            bail!("--vm {ROOM_IMAGE}: the master has no master to fetch an image from: give it a bundle");
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
            image: None,
        })
    } else {
        None
    };
    // The room's links listen with the granted key, not a --key file.
    let listen = args.switch.listen.take();
    let listener = listen.map(switchd::bind_link_listener).transpose()?;
    let advertise = args
        .advertise
        .clone()
        .or_else(|| {
            listen
                .filter(|a| !a.ip().is_unspecified())
                .map(|a| a.to_string())
        })
        .map(|a| Endpoint::new(&a).map_err(|e| anyhow::anyhow!("--advertise {a}: {e}")))
        .transpose()?;
    let served = args
        .serve_image
        .as_deref()
        .map(|bundle| offer_bundle(bundle, advertise.clone(), args.serve_image_rate))
        .transpose()?;
    if let (Some(params), Some(served)) = (master.as_mut(), &served) {
        params.image = Some(served.offer().clone());
    }
    let node_key = keys::node_key(&state_dir)?;
    let room_config = RoomConfig {
        room: room.to_string(),
        nick: nick.clone(),
        jid: jid.to_string(),
        master,
        master_jid: args.master_jid.clone(),
        link: LinkInfo {
            endpoint: advertise,
            public_key: Some(keys::encode(&public_key(&node_key))),
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
    let vm = args.vm.clone().map(|image| {
        let (mac, granted) = tokio::sync::oneshot::channel();
        let trigger = VmTrigger {
            mac,
            wired: args.master,
            granted: None,
        };
        let opts = VmOptions {
            image,
            switch_dir: prepared.dir().to_path_buf(),
            state_dir: state_dir.clone(),
            name: Some(nick.clone()),
            memory: args.vm_memory,
            append: args.vm_append.clone(),
            ..VmOptions::default()
        };
        (trigger, opts, granted)
    });
    let (trigger, vm) = match vm {
        Some((trigger, opts, granted)) => (Some(trigger), Some((opts, granted))),
        None => (None, None),
    };
    let session_config = SessionConfig {
        connector,
        jid,
        password,
        room,
        nick: nick.clone(),
    };
    let companion: Companion = Box::new(move |ctx: CompanionCtx| {
        if let Some(served) = served {
            ctx.links.serve_image(served);
        }
        let links = XmppLinks::new(Arc::clone(&ctx.datapath));
        let mut driver = RoomDriver::new(
            machine,
            nick,
            Arc::clone(&ctx.datapath),
            RoomLinks {
                xmpp: Arc::clone(&links),
                tcp: TcpLinks::new(ctx.links, listener),
            },
            dir,
            taps,
            trigger,
        );
        let view: Arc<dyn crate::mgmt::StatusExtra> = driver.view();
        let fut = async move {
            let Some((opts, granted)) = vm else {
                return session::run(session_config, links, &mut driver, &ctx.stop).await;
            };
            let session_stop = Arc::new(tokio::sync::Notify::new());
            let session = session::run(session_config, links, &mut driver, &session_stop);
            run_beside(session, Arc::clone(&session_stop), ctx.stop, opts, granted).await
        };
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
