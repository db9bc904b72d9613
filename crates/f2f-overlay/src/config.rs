//! `--config FILE`: read the TOML file, check it with
//! [`f2f_core::config::SwitchFile`], and merge it under the command line's
//! flags (a flag given on the command line wins over the file's key).
//!
//! Relative paths in the file are relative to the file's directory, so a
//! config file and the sockets it names can move together. Boolean keys
//! (`hub`, `daemon`, `fstp`) can only be switched on by a flag, so a flag wins
//! only when given; list keys (`tap`) are replaced, not extended, by flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use std::net::Ipv4Addr;

use f2f_core::config::SwitchFile;
use f2f_core::dhcp::Reservation;

use crate::cli::SwitchArgs;

/// Apply `args.config`, if given, under the flags already in `args`.
pub fn apply(args: &mut SwitchArgs) -> Result<()> {
    let Some(path) = args.config.clone() else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let file =
        SwitchFile::parse(&text).with_context(|| format!("config file {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    merge(file, base, args).with_context(|| format!("config file {}", path.display()))
}

/// Fill every setting the flags left unset from `file`.
pub fn merge(file: SwitchFile, base: &Path, a: &mut SwitchArgs) -> Result<()> {
    let path = |p: Option<String>| p.map(|p| resolve(base, &p));
    fill(&mut a.sock, path(file.sock));
    fill(&mut a.mgmt, path(file.mgmt));
    fill(&mut a.mgmt_mode, file.mgmtmode.map(|m| m.0));
    fill(&mut a.mgmt_group, file.mgmtgroup);
    fill(&mut a.numports, file.numports.map(widen));
    a.hub |= file.hub.unwrap_or(false);
    a.fstp |= file.fstp.unwrap_or(false);
    a.daemon |= file.daemon.unwrap_or(false);
    fill(&mut a.pidfile, path(file.pidfile));
    fill(&mut a.mode, file.mode.map(|m| m.0));
    fill(&mut a.dirmode, file.dirmode.map(|m| m.0));
    fill(&mut a.group, file.group);
    fill(&mut a.macaddr, file.macaddr);
    fill(&mut a.priority, file.priority.map(widen));
    fill(&mut a.hashsize, file.hashsize.map(widen));
    fill(&mut a.rcfile, path(file.rcfile));
    if a.tap.is_empty() {
        a.tap = file.tap;
    }
    fill(&mut a.stream_listen, path(file.stream_listen));
    fill(&mut a.listen, parsed("listen", file.listen)?);
    if a.connect.is_empty() {
        a.connect = file.connect;
    }
    fill(&mut a.key, path(file.key));
    fill(
        &mut a.debugclients,
        file.debugclients.map(|n| n.to_string()),
    );
    if a.max_macs.is_none() {
        if let Some(n) = file.max_macs {
            a.max_macs = Some(usize::try_from(n).context("max-macs is too large")?);
        }
    }
    fill(&mut a.max_frame, file.max_frame.map(widen));
    fill(&mut a.port_max_macs, file.port_max_macs.map(widen));
    fill(&mut a.max_consoles, file.max_consoles.map(widen));
    fill(&mut a.common.log_level, file.log_level);
    fill(&mut a.common.state_dir, path(file.state_dir));
    let d = &mut a.dhcp;
    fill(&mut d.subnet, parsed("dhcp", file.dhcp)?);
    fill(&mut d.range, parsed("dhcp-range", file.dhcp_range)?);
    fill(&mut d.lease_time, file.dhcp_lease_time);
    fill(&mut d.router, parsed("dhcp-router", file.dhcp_router)?);
    fill(
        &mut d.server_ip,
        parsed("dhcp-server-ip", file.dhcp_server_ip)?,
    );
    fill(&mut d.lease_file, path(file.dhcp_lease_file));
    if d.dns.is_empty() {
        for ip in file.dhcp_dns.iter().flat_map(|v| v.split(',')) {
            d.dns
                .extend(parsed::<Ipv4Addr>("dhcp-dns", Some(ip.trim().to_string()))?);
        }
    }
    if d.reserve.is_empty() {
        for r in file.dhcp_reserve {
            d.reserve
                .extend(parsed::<Reservation>("dhcp-reserve", Some(r))?);
        }
    }
    Ok(())
}

/// Parses a key's text value as its flag would, naming the key on error.
fn parsed<T>(key: &str, value: Option<String>) -> Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("{key} = {v:?}: {e}"))
        })
        .transpose()
}

fn fill<T>(flag: &mut Option<T>, from_file: Option<T>) {
    if flag.is_none() {
        *flag = from_file;
    }
}

fn widen(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::VdeSwitchCli;
    use clap::Parser;

    const EXAMPLE: &str = include_str!("../../../docs/example-config.toml");

    fn args(flags: &[&str]) -> SwitchArgs {
        let mut argv = vec!["vde_switch"];
        argv.extend_from_slice(flags);
        VdeSwitchCli::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn example_config_parses_and_merges() {
        let file = SwitchFile::parse(EXAMPLE).unwrap();
        let mut a = args(&[]);
        merge(file, Path::new("/etc/f2f"), &mut a).unwrap();
        assert_eq!(a.sock, Some(PathBuf::from("/run/f2f/switch.ctl")));
        assert_eq!(a.mgmt, Some(PathBuf::from("/etc/f2f/switch.mgmt")));
        assert_eq!(a.numports, Some(64));
        assert_eq!(a.mgmt_mode, Some(0o660));
        assert_eq!(a.max_macs, Some(8192));
        assert_eq!(a.max_frame, Some(1518));
        assert!(!a.hub);
        assert!(
            a.refuse_unsupported().is_ok(),
            "the example uses only what works"
        );
    }

    #[test]
    fn flags_override_the_file() {
        let file = SwitchFile::parse("numports = 8\nmax-frame = 9000\nhub = true\ntap = [\"a\"]\n")
            .unwrap();
        let mut a = args(&["-n", "16", "-t", "b"]);
        merge(file, Path::new("."), &mut a).unwrap();
        assert_eq!(a.numports, Some(16), "the flag wins");
        assert_eq!(
            a.max_frame,
            Some(9000),
            "the file fills what the flags left"
        );
        assert!(a.hub);
        assert_eq!(a.tap, ["b"], "flags replace the file's list");
    }

    #[test]
    fn stream_listen_from_the_file_is_relative_to_it() {
        let file = SwitchFile::parse("stream-listen = \"qemu.sock\"\n").unwrap();
        let mut a = args(&[]);
        merge(file, Path::new("/etc/f2f"), &mut a).unwrap();
        assert_eq!(a.stream_listen, Some(PathBuf::from("/etc/f2f/qemu.sock")));
        let file = SwitchFile::parse("stream-listen = \"/run/q.sock\"\n").unwrap();
        let mut a = args(&["--stream-listen", "/tmp/flag.sock"]);
        merge(file, Path::new("/etc/f2f"), &mut a).unwrap();
        assert_eq!(a.stream_listen, Some(PathBuf::from("/tmp/flag.sock")));
    }

    #[test]
    fn link_keys_fill_what_the_flags_left() {
        let file = SwitchFile::parse(
            "key = \"net.key\"\nlisten = \"127.0.0.1:7000\"\nconnect = [\"a.example:7000\", \"b:1\"]\n",
        )
        .unwrap();
        let mut a = args(&["--connect", "c:2"]);
        merge(file, Path::new("/etc/f2f"), &mut a).unwrap();
        assert_eq!(a.key, Some(PathBuf::from("/etc/f2f/net.key")));
        assert_eq!(a.listen, Some("127.0.0.1:7000".parse().unwrap()));
        assert_eq!(a.connect, ["c:2"], "flags replace the file's list");
        let bad = SwitchFile::parse("listen = \"nowhere\"\n").unwrap();
        let err = merge(bad, Path::new("."), &mut args(&[])).unwrap_err();
        assert!(err.to_string().starts_with("listen = \"nowhere\""), "{err}");
    }

    #[test]
    fn dhcp_keys_fill_what_the_flags_left() {
        let file = SwitchFile::parse(
            "dhcp = \"10.9.0.0/24\"\ndhcp-range = \"10.9.0.10-10.9.0.20\"\n\
             dhcp-lease-time = 60\ndhcp-dns = \"10.9.0.1, 9.9.9.9\"\n\
             dhcp-reserve = [\"52:54:00:00:00:07=10.9.0.7\"]\ndhcp-lease-file = \"l.json\"\n",
        )
        .unwrap();
        let mut a = args(&["--dhcp-lease-time", "120"]);
        merge(file, Path::new("/etc/f2f"), &mut a).unwrap();
        let d = &a.dhcp;
        assert_eq!(d.subnet.unwrap().to_string(), "10.9.0.0/24");
        assert_eq!(d.range.unwrap().to_string(), "10.9.0.10-10.9.0.20");
        assert_eq!(d.lease_time, Some(120), "the flag wins");
        assert_eq!(d.dns.len(), 2);
        assert_eq!(d.reserve.len(), 1);
        assert_eq!(d.lease_file, Some(PathBuf::from("/etc/f2f/l.json")));
        let bad = SwitchFile::parse("dhcp = \"10.9.0.1/24\"\n").unwrap();
        let err = merge(bad, Path::new("."), &mut args(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("dhcp = \"10.9.0.1/24\": "),
            "{err}"
        );
    }
}
