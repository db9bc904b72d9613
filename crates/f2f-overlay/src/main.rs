//! The `f2f-overlay` binary: a drop-in vde_switch and friend-to-friend
//! Ethernet overlay. Invoked as `vde_switch` (through a symlink) it behaves as
//! `f2f-overlay switch`; as `vde_plug`, as `f2f-overlay plug` with vde_plug's
//! options.
//!
//! No panics on input: `unwrap` and `expect` are denied outside tests, here
//! as in f2f-core, so every parser of untrusted bytes in the shell (config
//! file, console sessions, VDE requests, stream framing, lease files) returns
//! errors instead.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod capture;
mod cli;
mod client;
mod clock;
mod config;
mod console;
mod datapath;
mod debugout;
mod join;
mod join_vm;
mod keys;
mod limit;
mod logging;
mod mgmt;
mod plug;
mod ports;
mod provision;
mod room;
mod room_tcp;
mod state;
mod switchd;
mod sys;
mod vm;
mod xmpp;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use anyhow::Context;

use crate::cli::{
    Cli, Command, PlugOptions, SecondPlug, SwitchArgs, VdePlugCli, VdeSwitchCli, VmArgs,
};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // With no switch flags at all, say how to attach qemu (spec/cli.md).
    let bare = match invoked_as.as_str() {
        "vde_switch" => args.len() == 1,
        _ => args.len() == 1 || (args.len() == 2 && args.get(1).is_some_and(|a| a == "switch")),
    };
    let result = if invoked_as == "vde_switch" {
        run_switch(VdeSwitchCli::parse_from(args).args, bare)
    } else if invoked_as == "vde_plug" {
        let cli = VdePlugCli::parse_from(args);
        cli.refuse_unsupported()
            .map_err(anyhow::Error::msg)
            .and_then(|()| run_plug(cli.plug, cli.port, cli.second, cli.pidfile, None))
    } else {
        match Cli::parse_from(args).command {
            Some(Command::Switch(a)) => run_switch(*a, bare),
            Some(Command::Console(a)) => {
                logging::init(a.common.log_level.as_deref(), false);
                return match console::run(&a) {
                    Ok(code) => code,
                    Err(err) => {
                        eprintln!("f2f-overlay console: {err:#}");
                        ExitCode::FAILURE
                    }
                };
            }
            Some(Command::Plug(a)) => run_plug(
                a.plug,
                a.port,
                SecondPlug::default(),
                None,
                a.common.log_level,
            ),
            Some(Command::Status(a)) => {
                logging::init(a.common.log_level.as_deref(), false);
                client::status(&a)
            }
            Some(Command::Keygen(a)) => {
                logging::init(a.common.log_level.as_deref(), false);
                keys::keygen(&a.file)
            }
            Some(Command::Join(a)) => join::run(*a),
            Some(Command::Capture(a)) => {
                logging::init(a.common.log_level.as_deref(), false);
                client::capture(&a)
            }
            Some(Command::Vm(a)) => run_vm(a),
            None => {
                let defaults = Cli::parse_from(["f2f-overlay", "switch"]);
                match defaults.command {
                    Some(Command::Switch(a)) => run_switch(*a, true),
                    _ => Ok(()),
                }
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("f2f-overlay: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_switch(mut args: SwitchArgs, announce: bool) -> anyhow::Result<()> {
    config::apply(&mut args)?;
    let level = args.common.log_level.clone();
    if !args.daemon {
        logging::init(level.as_deref(), false);
    }
    let prepared = switchd::prepare(&args)?;
    if announce {
        println!(
            "f2f-overlay: switch running on {dir}; attach qemu with -netdev vde,id=n0,sock={dir} -device virtio-net-pci,netdev=n0 (Ctrl-C stops it)",
            dir = prepared.dir().display()
        );
    }
    switchd::run(prepared, |daemon| {
        if daemon {
            logging::init(level.as_deref(), true);
        }
    })
}

/// `URL` as a target, with the options that override its `[…]` settings.
fn plug_target(
    url: &str,
    port: Option<u32>,
    mode: Option<u32>,
    group: Option<&String>,
) -> anyhow::Result<plug::Target> {
    let mut target = plug::parse_url(url, &switchd::default_ctl_dir())?;
    if port.is_some() {
        target.port = port;
    }
    if let Some(mode) = mode {
        target.mode = mode;
    }
    if let Some(group) = group {
        target.group = Some(group.clone());
    }
    Ok(target)
}

/// `f2f-overlay plug` / `vde_plug`: attach (to two switches for a cable),
/// then copy until either side ends.
fn run_plug(
    opts: PlugOptions,
    port: Option<u32>,
    second: SecondPlug,
    pidfile: Option<PathBuf>,
    level: Option<String>,
) -> anyhow::Result<()> {
    // vde_plug is silent unless something goes wrong.
    logging::init(Some(level.as_deref().unwrap_or("warn")), false);
    let (url, far) = plug::split_args(&opts.url).map_err(anyhow::Error::msg)?;
    let target = plug_target(url, port, opts.mode, opts.group.as_ref())?;
    let descr = plug::description(
        opts.descr.as_deref().unwrap_or(plug::DEFAULT_DESCRIPTION),
        &sys::user_name(nix::unistd::Uid::effective().as_raw()),
        std::process::id(),
        std::env::var("SSH_CLIENT").ok().as_deref(),
    );
    let conn = plug::connect(&target, &descr)?;
    tracing::debug!(switch = %conn.switch_path.display(), "attached");
    let far_conn = match &far {
        plug::Far::Switch(url2) => {
            let target2 = plug_target(url2, second.port2, second.mode2, second.group2.as_ref())?;
            Some(plug::connect(&target2, &descr)?)
        }
        _ => None,
    };
    if let Some(path) = &pidfile {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pid file {}", path.display()))?;
    }
    let result = match (far, far_conn) {
        (plug::Far::Command(argv), _) => plug::run_command(conn, &argv),
        (_, Some(other)) => plug::run_cable(conn, other),
        _ => plug::run(conn),
    };
    if let Some(path) = &pidfile {
        let _ = std::fs::remove_file(path);
    }
    Ok(result?)
}

/// `f2f-overlay vm`: start the VM, then run it until the guest powers off,
/// Ctrl-C/SIGTERM/SIGHUP, the switch goes away (an error: exit status 1), or
/// the VM fails.
fn run_vm(a: VmArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    logging::init(a.common.log_level.as_deref(), false);
    let opts = vm::VmOptions {
        switch_dir: a.sock.clone().unwrap_or_else(switchd::default_ctl_dir),
        state_dir: state::state_dir(a.common.state_dir.as_deref()),
        accel: a.accel,
        image: a.image,
        name: a.name,
        mac: a.mac,
        memory: a.memory,
        kernel: a.kernel,
        initrd: a.initrd,
        append: a.append,
        keep_overlay: a.keep_overlay,
        mirror_console: true,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let ended = runtime.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        let vm = vm::launch(&opts).await?;
        tracing::info!(
            mac = %vm.mac(),
            console = %vm.console_path().display(),
            overlay = %vm.overlay_path().display(),
            "VM running; Ctrl-C stops it"
        );
        let stop = async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => "SIGHUP",
            }
            .to_string()
        };
        vm.run(stop).await
    })?;
    match ended {
        vm::Ended::PoweredOff => tracing::info!("the guest powered off"),
        vm::Ended::Stopped(_) => {}
        vm::Ended::SwitchGone => anyhow::bail!(
            "the switch at {} went away: the VM was stopped",
            opts.switch_dir.display()
        ),
    }
    Ok(())
}
