//! The `f2f-overlay` binary: a drop-in vde_switch and friend-to-friend
//! Ethernet overlay. Invoked as `vde_switch` (through a symlink) it behaves as
//! `f2f-overlay switch`.

mod capture;
mod cli;
mod client;
mod clock;
mod config;
mod console;
mod datapath;
mod logging;
mod mgmt;
mod ports;
mod switchd;
mod sys;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, SwitchArgs, VdeSwitchCli};

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
            Some(Command::Status(a)) => {
                logging::init(a.common.log_level.as_deref(), false);
                client::status(&a)
            }
            Some(Command::Capture(a)) => {
                logging::init(a.common.log_level.as_deref(), false);
                client::capture(&a)
            }
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
