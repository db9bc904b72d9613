//! `fstp/*`: the spanning-tree commands as vde_switch 2.3.2 answers them
//! (`fstp.c`; spec/fstp.md §1, §5), over the switch's real [`crate::stp`]
//! machine.
//!
//! - `fstp/showinfo`: `MAC m Priority p (0xp)` and `FSTP=true|false`.
//! - `fstp/setfstp 0/1`: in hub mode a change is refused with the line
//!   "Can't use fstp in hub mode" and still `1000 Success`.
//! - `fstp/setedge VLAN PORT 1/0`, `fstp/bonus VLAN PORT COST`: `EINVAL` for
//!   a VLAN or port out of range, `ENXIO` for a VLAN that does not exist; a
//!   port that is not an active member succeeds and changes nothing, as in
//!   vde_switch (its edge flag would be reset when the port joins anyway).
//! - `fstp/print [N]`: every VLAN's tree, or VLAN N (`EINVAL` out of range,
//!   `ENXIO` when it does not exist).

use std::hash::BuildHasher;

use super::{errno, int_arg, three_args, ConsoleHost, Reply, Status};
use crate::stp::{self, StpError};
use crate::switch::{PortId, Switch, MAX_VLAN};

/// `fstp/showinfo`.
pub(super) fn showinfo<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
) -> Reply {
    sw.refresh_stp(host.now());
    Reply::data(stp::showinfo(sw.stp()), Status::Success)
}

/// `fstp/setfstp 0/1`.
pub(super) fn setfstp<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    match int_arg(arg) {
        Err(e) => Reply::data(String::new(), Status::Errno(e)),
        Ok(v) => match sw.set_fstp(host.now(), v != 0) {
            Ok(()) => Reply::data(String::new(), Status::Success),
            Err(refused) => Reply::data(format!("{refused}\n"), Status::Success),
        },
    }
}

/// `fstp/setedge VLAN PORT 1/0`.
pub(super) fn setedge<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    Reply::done(three_args(arg).and_then(|(v, p, on)| {
        let (vlan, port) = vlan_port(sw, v, p)?;
        stp_result(sw.set_stp_edge(host.now(), vlan, port, on != 0))
    }))
}

/// `fstp/bonus VLAN PORT COST`.
pub(super) fn bonus<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    Reply::done(three_args(arg).and_then(|(v, p, cost)| {
        let (vlan, port) = vlan_port(sw, v, p)?;
        // C's int: what does not fit wraps, as in vde_switch.
        stp_result(sw.set_stp_bonus(host.now(), vlan, port, cost as i32))
    }))
}

/// `fstp/print [N]`.
pub(super) fn print<S: BuildHasher + Clone>(
    sw: &mut Switch<S>,
    host: &dyn ConsoleHost,
    arg: &str,
) -> Reply {
    sw.refresh_stp(host.now());
    let vlan = if arg.trim().is_empty() {
        None
    } else {
        match int_arg(arg) {
            Ok(n) => Some(n),
            Err(e) => return Reply::data(String::new(), Status::Errno(e)),
        }
    };
    match stp::print(sw.stp(), host.now(), vlan) {
        Ok(text) => Reply::data(text, Status::Success),
        Err(e) => Reply::data(String::new(), Status::Errno(e.errno())),
    }
}

/// Checks `VLAN PORT` as vde_switch's `fstsetedge`/`fstsetbonus` do.
fn vlan_port<S: BuildHasher + Clone>(sw: &Switch<S>, v: i64, p: i64) -> Result<(u16, PortId), u16> {
    let vlan = u16::try_from(v)
        .ok()
        .filter(|v| *v <= MAX_VLAN)
        .ok_or(errno::EINVAL)?;
    let port = PortId::try_from(p).map_err(|_| errno::EINVAL)?;
    if usize::from(port) >= sw.config().numports {
        return Err(errno::EINVAL);
    }
    if !sw.has_vlan(vlan) {
        return Err(errno::ENXIO);
    }
    Ok((vlan, port))
}

fn stp_result(r: Result<(), StpError>) -> Result<(), u16> {
    match r {
        Ok(()) | Err(StpError::UnknownPort { .. }) => Ok(()),
        Err(StpError::UnknownVlan { .. }) => Err(errno::ENXIO),
        Err(StpError::VlanOutOfRange { .. }) => Err(errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;

    use crate::console::execute;
    use crate::console::test_host::TestHost;
    use crate::switch::{AttachRequest, Endpoint, PortRequest, Switch, SwitchConfig};
    use crate::time::Instant;

    type H = BuildHasherDefault<DefaultHasher>;

    const HOST: TestHost = TestHost {
        pid: 1,
        uptime: 86,
        mgmt: None,
        now: 86,
        debug: 0,
    };

    fn switch(fstp: bool, hub: bool) -> Switch<H> {
        let mut sw = Switch::new(
            SwitchConfig {
                mac: "00:ff:e2:2d:37:70".parse().unwrap(),
                fstp,
                hub,
                ..SwitchConfig::default()
            },
            H::default(),
        );
        for p in [1, 2] {
            sw.attach(AttachRequest {
                port: PortRequest::Number(p),
                endpoint: Endpoint {
                    id: p,
                    module: "unix",
                    description: String::new(),
                    user: 0,
                },
                groups: vec![],
            })
            .unwrap();
        }
        sw
    }

    fn run(sw: &mut Switch<H>, line: &str) -> String {
        execute(sw, &HOST, line).render()
    }

    #[test]
    fn showinfo_and_setfstp() {
        let mut sw = switch(false, false);
        assert_eq!(
            run(&mut sw, "fstp/showinfo"),
            "0000 DATA END WITH '.'\nMAC 00:ff:e2:2d:37:70 Priority 32768 (0x8000)\n\
             FSTP=false\n.\n1000 Success\n\nvde$ "
        );
        assert_eq!(
            run(&mut sw, "fstp/setfstp 1"),
            "0000 DATA END WITH '.'\n.\n1000 Success\n\nvde$ "
        );
        assert!(sw.stp().enabled());
        assert!(run(&mut sw, "fstp/showinfo").contains("FSTP=true\n"));
        assert!(run(&mut sw, "fstp/setfstp").contains("1022 Invalid argument"));
        let mut hub = switch(false, true);
        assert_eq!(
            run(&mut hub, "fstp/setfstp 1"),
            "0000 DATA END WITH '.'\nCan't use fstp in hub mode\n.\n1000 Success\n\nvde$ "
        );
        assert!(!hub.stp().enabled());
    }

    #[test]
    fn print_shows_the_real_tree() {
        let mut sw = switch(true, false);
        sw.handle_timeout(Instant::from_millis(1));
        assert_eq!(
            run(&mut sw, "fstp/print"),
            "0000 DATA END WITH '.'\n\
             FST DATA VLAN 0000 ROOTSWITCH \n\
             \x20++ root 80:00:00:ff:e2:2d:37:70\n\
             \x20++ designated ff:ff:ff:ff:ff:ff:ff:ff\n\
             \x20++ rootport 0000 cost 0 age 86 bonusport 0000 bonuscost 0\n\
             \x20-- Port 0001 tagged=0 portcost=20000000 role=Designated\n\
             \x20-- Port 0002 tagged=0 portcost=20000000 role=Designated\n\
             .\n1000 Success\n\nvde$ "
        );
        assert!(
            run(&mut sw, "fstp/print 5").ends_with(".\n1006 No such device or address\n\nvde$ ")
        );
        assert!(run(&mut sw, "fstp/print 4094").contains("1022 Invalid argument"));
        assert!(run(&mut sw, "fstp/print x").contains("1022 Invalid argument"));
    }

    #[test]
    fn setedge_and_bonus() {
        let mut sw = switch(true, false);
        assert_eq!(run(&mut sw, "fstp/setedge 0 2 1"), "1000 Success\n\nvde$ ");
        assert!(
            run(&mut sw, "fstp/print 0").contains("Port 0002 tagged=0 portcost=20000000 role=Edge")
        );
        // Not an active member: success, nothing changes.
        assert_eq!(run(&mut sw, "fstp/setedge 0 9 1"), "1000 Success\n\nvde$ ");
        assert_eq!(
            run(&mut sw, "fstp/setedge 0 99 1"),
            "1022 Invalid argument\n\nvde$ "
        );
        assert_eq!(
            run(&mut sw, "fstp/setedge 7 1 1"),
            "1006 No such device or address\n\nvde$ "
        );
        assert_eq!(
            run(&mut sw, "fstp/setedge 0 1"),
            "1022 Invalid argument\n\nvde$ "
        );
        assert_eq!(run(&mut sw, "fstp/bonus 0 1 500"), "1000 Success\n\nvde$ ");
        assert!(run(&mut sw, "fstp/print").contains("bonusport 0001 bonuscost 500"));
    }

    #[test]
    fn help_lists_fstp_before_port_like_vde_switch() {
        let mut sw = switch(false, false);
        let h = run(&mut sw, "help");
        let fstp = h
            .find("fstp               ============    FAST SPANNING TREE MENU")
            .unwrap();
        let port = h
            .find("port               ============    PORT STATUS MENU")
            .unwrap();
        assert!(fstp < port);
        assert!(h.contains(
            "fstp/setedge       VLAN PORT 1/0   Define an edge port for a vlan 1=Y 0=N\n"
        ));
    }
}
