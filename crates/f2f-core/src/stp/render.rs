//! The text of `fstp/print [N]` and `fstp/showinfo`, byte for byte as
//! vde_switch 2.3.2 prints them (spec/fstp.md §5, spec/vde-console.md §3-4).
//!
//! Pure functions returning the data lines, each ending in `\n`; the console
//! wraps them in `0000 DATA END WITH '.'` … `.` and the status line. The one
//! deliberate difference: tagged ports show their real role where
//! vde_switch prints `Unknown`.

use core::fmt::Write as _;

use super::{Stp, MAX_VLAN};
use crate::time::Instant;

/// Why `fstp/print N` printed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintError {
    /// N outside 0..4094 (vde_switch answers `1022 Invalid argument`).
    #[error("VLAN {vlan} out of range")]
    InvalidVlan {
        /// The number given.
        vlan: i64,
    },
    /// No such VLAN (vde_switch answers `1006 No such device or address`).
    #[error("VLAN {vlan} does not exist")]
    NoSuchVlan {
        /// The VLAN given.
        vlan: u16,
    },
}

impl PrintError {
    /// The errno vde_switch puts in the status line (`1EEE`).
    pub fn errno(&self) -> u16 {
        match self {
            PrintError::InvalidVlan { .. } => 22,
            PrintError::NoSuchVlan { .. } => 6,
        }
    }
}

/// `fstp/print` (all VLANs, ascending) or `fstp/print N`.
///
/// `now` gives the `age` column: seconds since the root port last heard
/// from the root, or, when we are the root, seconds since the origin of
/// `now` (vde_switch prints its uptime there).
pub fn print(stp: &Stp, now: Instant, vlan: Option<i64>) -> Result<String, PrintError> {
    let mut out = String::new();
    match vlan {
        None => {
            for v in stp.trees.keys() {
                print_vlan(stp, now, *v, &mut out);
            }
        }
        Some(n) => {
            // vde_switch accepts 0 ≤ N < NUMOFVLAN - 1.
            let v = u16::try_from(n)
                .ok()
                .filter(|v| *v < MAX_VLAN)
                .ok_or(PrintError::InvalidVlan { vlan: n })?;
            if !stp.trees.contains_key(&v) {
                return Err(PrintError::NoSuchVlan { vlan: v });
            }
            print_vlan(stp, now, v, &mut out);
        }
    }
    Ok(out)
}

/// `fstp/showinfo`.
pub fn showinfo(stp: &Stp) -> String {
    let id = stp.bridge_id();
    format!(
        "MAC {} Priority {} (0x{:x})\nFSTP={}\n",
        id.mac, id.priority, id.priority, stp.enabled
    )
}

fn print_vlan(stp: &Stp, now: Instant, vlan: u16, out: &mut String) {
    let me = stp.bridge_id();
    let Some(tree) = stp.trees.get(&vlan) else {
        return;
    };
    let root = tree.root_id(me);
    let age = match tree.root {
        super::tree::RootInfo::Own => now.secs(),
        super::tree::RootInfo::Via { since, .. } => now.saturating_duration_since(since).as_secs(),
    };
    // `%d` of C ints: costs above 2^31 print negative, as in vde_switch.
    let as_c_int = |v: u32| v as i32;
    let _ = writeln!(
        out,
        "FST DATA VLAN {vlan:04} {} {}",
        if root == me { "ROOTSWITCH" } else { "" },
        if stp.enabled { "" } else { "FSTP IS DISABLED" }
    );
    let _ = writeln!(out, " ++ root {root}");
    let _ = writeln!(out, " ++ designated {}", tree.designated());
    let _ = writeln!(
        out,
        " ++ rootport {:04} cost {} age {} bonusport {:04} bonuscost {}",
        tree.root_port().unwrap_or(0),
        as_c_int(tree.root_cost()),
        age,
        tree.bonus.0,
        tree.bonus.1
    );
    for tagged in [false, true] {
        for (n, p) in tree.ports.iter().filter(|(_, p)| p.tagged == tagged) {
            let _ = writeln!(
                out,
                " -- Port {n:04} tagged={} portcost={} role={}",
                u8::from(tagged),
                as_c_int(p.cost),
                // An edge port is shown as such even with FSTP off.
                if p.edge { "Edge" } else { p.role.vde_name() }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mac::MacAddr;
    use crate::stp::StpConfig;

    fn stp(enabled: bool) -> Stp {
        let mac: MacAddr = "00:ff:e2:2d:37:70".parse().unwrap();
        Stp::new(StpConfig {
            enabled,
            ..StpConfig::new(mac)
        })
    }

    #[test]
    fn print_matches_the_disabled_transcript() {
        let mut s = stp(false);
        let t = Instant::from_secs(1);
        for p in [1, 2, 5] {
            s.handle_port_up(t, 0, p, false).unwrap();
        }
        let text = print(&s, Instant::from_secs(86), None).unwrap();
        assert_eq!(
            text,
            "FST DATA VLAN 0000 ROOTSWITCH FSTP IS DISABLED\n\
             \x20++ root 80:00:00:ff:e2:2d:37:70\n\
             \x20++ designated ff:ff:ff:ff:ff:ff:ff:ff\n\
             \x20++ rootport 0000 cost 0 age 86 bonusport 0000 bonuscost 0\n\
             \x20-- Port 0001 tagged=0 portcost=20000000 role=Designated\n\
             \x20-- Port 0002 tagged=0 portcost=20000000 role=Designated\n\
             \x20-- Port 0005 tagged=0 portcost=20000000 role=Designated\n"
        );
    }

    #[test]
    fn print_lists_untagged_then_tagged_and_checks_the_argument() {
        let mut s = stp(true);
        let t = Instant::from_secs(1);
        s.handle_port_up(t, 9, 3, true).unwrap();
        s.handle_port_up(t, 9, 4, false).unwrap();
        let text = print(&s, t, Some(9)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "FST DATA VLAN 0009 ROOTSWITCH ");
        assert_eq!(
            lines[4],
            " -- Port 0004 tagged=0 portcost=20000000 role=Designated"
        );
        assert_eq!(
            lines[5],
            " -- Port 0003 tagged=1 portcost=20000000 role=Designated"
        );
        assert_eq!(
            print(&s, t, Some(7)),
            Err(PrintError::NoSuchVlan { vlan: 7 })
        );
        assert_eq!(
            print(&s, t, Some(4094)),
            Err(PrintError::InvalidVlan { vlan: 4094 })
        );
        assert_eq!(print(&s, t, Some(-1)).unwrap_err().errno(), 22);
        // All VLANs: 0 (no ports) then 9.
        let all = print(&s, t, None).unwrap();
        assert!(all.starts_with("FST DATA VLAN 0000 ROOTSWITCH \n"));
        assert_eq!(all.matches("FST DATA").count(), 2);
    }

    #[test]
    fn showinfo_matches_vde_switch() {
        assert_eq!(
            showinfo(&stp(false)),
            "MAC 00:ff:e2:2d:37:70 Priority 32768 (0x8000)\nFSTP=false\n"
        );
        assert!(showinfo(&stp(true)).ends_with("FSTP=true\n"));
    }
}
