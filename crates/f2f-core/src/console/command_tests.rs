//! Byte-exact tests of the commands beyond `port/*`, against transcripts of
//! vde_switch 2.3.2 (spec/vde-console.md §3-4, spec/fstp.md §5, and replies
//! captured from Debian's vde_switch 2.3.2 for this module).

use super::test_host::TestHost;
use super::*;
use crate::mac::MacAddr;
use crate::switch::{AttachRequest, Category, Endpoint, PortRequest, SwitchConfig};
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

type H = BuildHasherDefault<DefaultHasher>;

/// The data lines of vde_switch 2.3.2's `help`, as it prints them.
const VDE_HELP: &str = concat!(
    "COMMAND PATH       SYNTAX          HELP\n",
    "------------       --------------  ------------\n",
    "ds                 ============    DATA SOCKET MENU\n",
    "ds/showinfo                        show ds info\n",
    "help               [arg]           Help (limited to arg when specified)\n",
    "logout                             logout from this mgmt terminal\n",
    "shutdown                           shutdown of the switch\n",
    "showinfo                           show switch version and info\n",
    "load               path            load a configuration script\n",
    "debug              ============    DEBUG MENU\n",
    "debug/list                         list debug categories\n",
    "debug/add          dbgpath         enable debug info for a given category\n",
    "debug/del          dbgpath         disable debug info for a given category\n",
    "plugin             ============    PLUGINS MENU\n",
    "plugin/list                        list plugins\n",
    "plugin/add         library         load a plugin\n",
    "plugin/del         name            unload a plugin\n",
    "hash               ============    HASH TABLE MENU\n",
    "hash/showinfo                      show hash info\n",
    "hash/setsize       N               change hash size\n",
    "hash/setgcint      N               change garbage collector interval\n",
    "hash/setexpire     N               change hash entries expire time\n",
    "hash/setminper     N               minimum persistence time\n",
    "hash/print                         print the hash table\n",
    "hash/find          MAC [VLAN]      MAC lookup\n",
    "fstp               ============    FAST SPANNING TREE MENU\n",
    "fstp/showinfo                      show fstp info\n",
    "fstp/setfstp       0/1             Fast spanning tree protocol 1=ON 0=OFF\n",
    "fstp/setedge       VLAN PORT 1/0   Define an edge port for a vlan 1=Y 0=N\n",
    "fstp/bonus         VLAN PORT COST  set the port bonus for a vlan\n",
    "fstp/print         [N]             print fst data for the defined vlan\n",
    "port               ============    PORT STATUS MENU\n",
    "port/showinfo                      show port info\n",
    "port/setnumports   N               set the number of ports\n",
    "port/sethub        0/1             1=HUB 0=switch\n",
    "port/setvlan       N VLAN          set port VLAN (untagged)\n",
    "port/createauto                    create a port with an automatically allocated id (inactive|notallocatable)\n",
    "port/create        N               create the port N (inactive|notallocatable)\n",
    "port/remove        N               remove the port N\n",
    "port/allocatable   N 0/1           Is the port allocatable as unnamed? 1=Y 0=N\n",
    "port/setuser       N user          access control: set user\n",
    "port/setgroup      N user          access control: set group\n",
    "port/epclose       N ID            remove the endpoint port N/id ID\n",
    "port/resetcounter  [N]             reset the port (N) counters\n",
    "port/print         [N]             print the port/endpoint table\n",
    "port/allprint      [N]             print the port/endpoint table (including inactive port)\n",
    "vlan               ============    VLAN MANAGEMENT MENU\n",
    "vlan/create        N               create the VLAN with tag N\n",
    "vlan/remove        N               remove the VLAN with tag N\n",
    "vlan/addport       N PORT          add port to the vlan N (tagged)\n",
    "vlan/delport       N PORT          add port to the vlan N (tagged)\n",
    "vlan/print         [N]             print the list of defined vlan\n",
    "vlan/allprint      [N]             print the list of defined vlan (including inactive port)\n",
);

const HOST: TestHost = TestHost {
    pid: 4967,
    uptime: 86,
    mgmt: None,
    now: 86,
    debug: 0,
};

/// A switch with clients on ports 1, 2 and 5, as in the spec's transcripts.
fn switch() -> Switch<H> {
    let mut sw = Switch::new(
        SwitchConfig {
            mac: "00:ff:e2:2d:37:70".parse().unwrap(),
            ..SwitchConfig::default()
        },
        H::default(),
    );
    for (port, id) in [(1, 3), (2, 7), (5, 9)] {
        sw.attach(AttachRequest {
            port: PortRequest::Number(port),
            endpoint: Endpoint {
                id,
                module: "unix prog",
                description: format!("client{port}"),
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

fn data(lines: &str) -> String {
    format!("0000 DATA END WITH '.'\n{lines}.\n1000 Success\n\nvde$ ")
}

fn status(code: &str) -> String {
    format!("{code}\n\nvde$ ")
}

#[test]
fn help_lists_what_vde_switch_lists_plus_ours() {
    let mut sw = switch();
    let ours = run(&mut sw, "help");
    let without_ours: String = ours
        .lines()
        .filter(|l| {
            !EXTENSIONS
                .iter()
                .any(|e| l.starts_with(&format!("{e:<18} ")))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        without_ours,
        format!("0000 DATA END WITH '.'\n{VDE_HELP}.\n1000 Success\n\nvde$ \n")
    );
    assert!(ours.contains("\nport/stats         [N]             print the port counters"));
    // Every row but the menus has a handler; menus answer ENOSYS.
    for info in COMMANDS {
        let reply = execute(&mut switch(), &HOST, info.path);
        if info.handler.is_none() {
            assert_eq!(
                reply.status,
                Some(Status::Errno(errno::ENOSYS)),
                "{}",
                info.path
            );
        }
    }
    assert_eq!(
        run(&mut sw, "help vlan/d"),
        data("COMMAND PATH       SYNTAX          HELP\n------------       --------------  ------------\nvlan/delport       N PORT          add port to the vlan N (tagged)\n")
    );
}

#[test]
fn prefix_lookup_follows_vde_order() {
    for (line, path) in [
        ("port/createauto", "port/createauto"),
        ("port/create 3", "port/create"),
        ("hash/setsize 4", "hash/setsize"),
        ("vlan/allprintx", "vlan/allprint"),
        ("loadfoo", "load"),
        ("fstp/printall", "fstp/print"),
    ] {
        match parse_line(line) {
            Line::Command { info, .. } => assert_eq!(info.path, path, "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn vlan_transcript_matches_vde_switch() {
    let mut sw = switch();
    let ok = status("1000 Success");
    assert_eq!(run(&mut sw, "vlan/create 9"), ok);
    assert_eq!(run(&mut sw, "vlan/create 9"), status("1017 File exists"));
    for bad in [
        "vlan/create 0",
        "vlan/create 4094",
        "vlan/create -1",
        "vlan/create x",
    ] {
        assert_eq!(run(&mut sw, bad), status("1022 Invalid argument"), "{bad}");
    }
    assert_eq!(run(&mut sw, "vlan/create 4093"), ok);
    assert_eq!(run(&mut sw, "vlan/remove 4093"), ok);
    assert_eq!(
        run(&mut sw, "vlan/print"),
        data("VLAN 0000\n -- Port 0001 tagged=0 active=1 status=Forwarding\n -- Port 0002 tagged=0 active=1 status=Forwarding\n -- Port 0005 tagged=0 active=1 status=Forwarding\nVLAN 0009\n")
    );
    assert_eq!(run(&mut sw, "vlan/create 10"), ok);
    assert_eq!(run(&mut sw, "vlan/addport 10 1"), ok);
    assert_eq!(run(&mut sw, "vlan/addport 10 1"), ok);
    assert_eq!(
        run(&mut sw, "vlan/addport 11 1"),
        status("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "vlan/addport 10 7"),
        status("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "vlan/addport 10 99"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "vlan/addport 0 1"),
        ok,
        "no-op on the port's own VLAN"
    );
    assert_eq!(run(&mut sw, "port/create 7"), ok);
    assert_eq!(run(&mut sw, "vlan/addport 10 7"), ok);
    assert_eq!(run(&mut sw, "port/setvlan 2 9"), ok);
    assert_eq!(run(&mut sw, "port/setvlan 7 9"), ok);
    assert_eq!(
        run(&mut sw, "port/setvlan 8 9"),
        status("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "port/setvlan 2 11"),
        status("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "port/setvlan 2 4096"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "port/setvlan 5 4095"),
        ok,
        "4095: no untagged VLAN"
    );
    assert_eq!(
        run(&mut sw, "vlan/print"),
        data("VLAN 0000\n -- Port 0001 tagged=0 active=1 status=Forwarding\nVLAN 0009\n -- Port 0002 tagged=0 active=1 status=Forwarding\nVLAN 0010\n -- Port 0001 tagged=1 active=1 status=Forwarding\n")
    );
    assert_eq!(
        run(&mut sw, "vlan/allprint"),
        data("VLAN 0000\n -- Port 0001 tagged=0 active=1 status=Forwarding\nVLAN 0009\n -- Port 0002 tagged=0 active=1 status=Forwarding\n -- Port 0007 tagged=0 active=0 status=Learning\nVLAN 0010\n -- Port 0001 tagged=1 active=1 status=Forwarding\n -- Port 0007 tagged=1 active=0 status=Learning\n")
    );
    assert_eq!(
        run(&mut sw, "vlan/print 10"),
        data("VLAN 0010\n -- Port 0001 tagged=1 active=1 status=Forwarding\n")
    );
    let empty_err = |code: &str| format!("0000 DATA END WITH '.'\n.\n{code}\n\nvde$ ");
    assert_eq!(
        run(&mut sw, "vlan/print 11"),
        empty_err("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "vlan/allprint 0"),
        empty_err("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "vlan/print 4094"),
        empty_err("1022 Invalid argument")
    );
    assert!(run(&mut sw, "port/allprint 5").contains("Port 0005 untagged_vlan=4095 ACTIVE"));
    assert!(run(&mut sw, "port/allprint 7")
        .contains("Port 0007 untagged_vlan=0009 INACTIVE - NOT Unnamed Allocatable"));

    assert_eq!(
        run(&mut sw, "vlan/remove 10"),
        status("1098 Address already in use")
    );
    assert_eq!(
        run(&mut sw, "vlan/delport 9 2"),
        status("1098 Address already in use")
    );
    assert_eq!(
        run(&mut sw, "vlan/delport 10 2"),
        ok,
        "not a member: still success"
    );
    assert_eq!(run(&mut sw, "vlan/delport 10 1"), ok);
    assert_eq!(run(&mut sw, "vlan/delport 10 7"), ok);
    assert_eq!(run(&mut sw, "vlan/remove 10"), ok);
    assert_eq!(
        run(&mut sw, "vlan/remove 10"),
        status("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "vlan/remove 0"),
        status("1098 Address already in use")
    );
}

#[test]
fn vlan_changes_flush_only_the_affected_addresses() {
    let mut sw = switch();
    let mut out = Vec::new();
    let t = Instant::from_secs(1);
    let frame = |src: u8| {
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, src]);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.resize(60, 0);
        f
    };
    sw.decide(t, 1, &frame(1), &mut out);
    sw.decide(t, 2, &frame(2), &mut out);
    assert_eq!(sw.fdb().len(), 2);
    run(&mut sw, "vlan/create 9");
    run(&mut sw, "port/setvlan 2 9");
    assert_eq!(sw.fdb().len(), 1, "port 2's address in VLAN 0 is forgotten");
    assert!(sw.fdb().lookup(t, 0, MacAddr([2, 0, 0, 0, 0, 1])).is_some());
    sw.decide(t, 2, &frame(2), &mut out);
    assert!(sw.fdb().lookup(t, 9, MacAddr([2, 0, 0, 0, 0, 2])).is_some());
    run(&mut sw, "port/setvlan 2 0");
    assert!(run(&mut sw, "vlan/remove 9").starts_with("1000"));
    assert_eq!(sw.fdb().len(), 1);
}

#[test]
fn setvlan_moves_a_tagged_membership_to_untagged() {
    let mut sw = switch();
    run(&mut sw, "vlan/create 9");
    run(&mut sw, "vlan/addport 9 1");
    assert!(sw.port(1).unwrap().tagged_vlans.contains(&9));
    run(&mut sw, "port/setvlan 1 9");
    assert!(sw.port(1).unwrap().tagged_vlans.is_empty());
    run(&mut sw, "port/setvlan 1 0");
    assert!(!run(&mut sw, "vlan/print 9").contains("Port 0001"));
}

#[test]
fn hash_commands_match_vde_switch() {
    let mut sw = switch();
    assert_eq!(
        run(&mut sw, "hash/showinfo"),
        data("Hash size 128\nGC interval 2 secs\nGC expire 100 secs\nMin persistence 3 secs\n")
    );
    let mut out = Vec::new();
    let mut f = vec![0xffu8; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 0x0b]);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.resize(60, 0);
    sw.decide(Instant::from_secs(83), 2, &f, &mut out);
    let key = crate::fdb::Key {
        vlan: 0,
        mac: MacAddr([2, 0, 0, 0, 0, 0x0b]),
    };
    let bucket = sw.fdb().bucket(&key, 128);
    let row =
        format!("Hash: {bucket:04} Addr: 02:00:00:00:00:0b VLAN 0000 to port: 002  age 3 secs\n");
    assert_eq!(run(&mut sw, "hash/print"), data(&row));
    // Ours prints the port the address lives on; vde_switch prints port+1.
    assert_eq!(run(&mut sw, "hash/find 02:00:00:00:00:0b"), data(&row));
    assert_eq!(run(&mut sw, "hash/find 2:0:0:0:0:b 0"), data(&row));
    let empty_err = |code: &str| format!("0000 DATA END WITH '.'\n.\n{code}\n\nvde$ ");
    assert_eq!(
        run(&mut sw, "hash/find 02:00:00:00:00:0b 9"),
        empty_err("1019 No such device")
    );
    assert_eq!(
        run(&mut sw, "hash/find 1:2:3:4:5:6"),
        empty_err("1019 No such device")
    );
    assert_eq!(
        run(&mut sw, "hash/find"),
        empty_err("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "hash/find zz"),
        empty_err("1022 Invalid argument")
    );

    let ok = status("1000 Success");
    assert_eq!(run(&mut sw, "hash/setgcint 5"), ok);
    assert_eq!(run(&mut sw, "hash/setexpire 300"), ok);
    assert_eq!(run(&mut sw, "hash/setminper 0"), ok);
    assert_eq!(
        run(&mut sw, "hash/setexpire -1"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "hash/setsize 0"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "hash/setsize"),
        status("1022 Invalid argument")
    );
    assert_eq!(run(&mut sw, "hash/setsize 100"), ok);
    assert_eq!(
        run(&mut sw, "hash/showinfo"),
        data("Hash size 128\nGC interval 5 secs\nGC expire 300 secs\nMin persistence 0 secs\n")
    );
    assert!(sw.fdb().is_empty(), "hash/setsize empties the table");
    assert_eq!(run(&mut sw, "hash/setsize 0x400"), ok);
    assert!(run(&mut sw, "hash/showinfo").contains("Hash size 1024\n"));
}

#[test]
fn fstp_answers_as_vde_switch() {
    let mut sw = switch();
    assert_eq!(
        run(&mut sw, "fstp/showinfo"),
        data("MAC 00:ff:e2:2d:37:70 Priority 32768 (0x8000)\nFSTP=false\n")
    );
    // spec/vde-console.md §4 (the age column is the uptime).
    let tree0 = "FST DATA VLAN 0000 ROOTSWITCH FSTP IS DISABLED\n ++ root 80:00:00:ff:e2:2d:37:70\n ++ designated ff:ff:ff:ff:ff:ff:ff:ff\n ++ rootport 0000 cost 0 age 86 bonusport 0000 bonuscost 0\n -- Port 0001 tagged=0 portcost=20000000 role=Designated\n -- Port 0002 tagged=0 portcost=20000000 role=Designated\n -- Port 0005 tagged=0 portcost=20000000 role=Designated\n";
    assert_eq!(run(&mut sw, "fstp/print"), data(tree0));
    assert_eq!(run(&mut sw, "fstp/print 0"), data(tree0));
    let empty_err = |code: &str| format!("0000 DATA END WITH '.'\n.\n{code}\n\nvde$ ");
    assert_eq!(
        run(&mut sw, "fstp/print 5"),
        empty_err("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "fstp/print 9999"),
        empty_err("1022 Invalid argument")
    );

    let ok = status("1000 Success");
    assert_eq!(run(&mut sw, "fstp/bonus 0 1 100"), ok);
    assert_eq!(run(&mut sw, "fstp/setedge 0 2 1"), ok);
    assert_eq!(
        run(&mut sw, "fstp/setedge 0 3 1"),
        ok,
        "the port need not exist"
    );
    assert_eq!(
        run(&mut sw, "fstp/setedge 5 3 1"),
        status("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "fstp/setedge 0 99 1"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "fstp/setedge"),
        status("1022 Invalid argument")
    );
    assert_eq!(run(&mut sw, "fstp/bonus"), status("1022 Invalid argument"));
    run(&mut sw, "vlan/create 9");
    run(&mut sw, "vlan/addport 9 5");
    let want = "FST DATA VLAN 0000 ROOTSWITCH FSTP IS DISABLED\n ++ root 80:00:00:ff:e2:2d:37:70\n ++ designated ff:ff:ff:ff:ff:ff:ff:ff\n ++ rootport 0000 cost 0 age 86 bonusport 0001 bonuscost 100\n -- Port 0001 tagged=0 portcost=20000000 role=Designated\n -- Port 0002 tagged=0 portcost=20000000 role=Edge\n -- Port 0005 tagged=0 portcost=20000000 role=Designated\nFST DATA VLAN 0009 ROOTSWITCH FSTP IS DISABLED\n ++ root 80:00:00:ff:e2:2d:37:70\n ++ designated ff:ff:ff:ff:ff:ff:ff:ff\n ++ rootport 0000 cost 0 age 86 bonusport 0000 bonuscost 0\n -- Port 0005 tagged=1 portcost=20000000 role=Designated\n";
    assert_eq!(run(&mut sw, "fstp/print"), data(want));

    assert_eq!(run(&mut sw, "fstp/setfstp 0"), data(""));
    assert_eq!(run(&mut sw, "fstp/setfstp 1"), data(""));
    assert!(run(&mut sw, "fstp/showinfo").contains("FSTP=true\n"));
    assert!(run(&mut sw, "fstp/print 0").contains("FST DATA VLAN 0000 ROOTSWITCH \n"));
    // Hub mode turns spanning tree off and refuses to turn it on.
    run(&mut sw, "port/sethub 1");
    assert!(run(&mut sw, "fstp/showinfo").contains("FSTP=false\n"));
    assert_eq!(
        run(&mut sw, "fstp/setfstp 1"),
        data("Can't use fstp in hub mode\n")
    );
}

#[test]
fn debug_and_plugin_menus() {
    let mut sw = switch();
    let header = "CATEGORY               TAG STATUS HELP\n------------           --- ------ ----\n";
    let ports = "port/+                 021 OFF    new port\nport/-                 022 OFF    closed port\nport/descr             023 OFF    set port description\nport/ep/+              031 OFF    new endpoint\nport/ep/-              032 OFF    closed endpoint\n";
    assert_eq!(
        run(&mut sw, "debug/list port"),
        data(&format!("{header}{ports}"))
    );
    let all = run(&mut sw, "debug/list");
    assert!(all.contains(&format!(
        "{header}hash/+                 011 OFF    hash: new element\n"
    )));
    assert!(all.contains("fstp/root              045 OFF    fstp: rootswitch/port change\n"));
    assert_eq!(
        run(&mut sw, "debug/list zz"),
        format!("0000 DATA END WITH '.'\n{header}.\n1002 No such file or directory\n\nvde$ ")
    );
    assert_eq!(
        run(&mut sw, "debug/add zz"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        execute(&mut sw, &HOST, "debug/add port/ep").action,
        Action::Debug {
            mask: Category::EndpointNew.bit() | Category::EndpointDel.bit()
        }
    );
    assert_eq!(
        run(&mut sw, "debug/del port/+"),
        status("1002 No such file or directory")
    );
    // A session already subscribed to port/*: its list says ON.
    let subscribed = TestHost {
        debug: 0b111_1100_0000,
        ..HOST
    };
    assert!(execute(&mut sw, &subscribed, "debug/list port/+")
        .render()
        .contains("port/+                 021 ON     new port\n"));
    assert_eq!(
        execute(&mut sw, &subscribed, "debug/add port").status,
        Some(Status::Errno(17)),
        "all already on: EEXIST"
    );
    assert_eq!(
        execute(&mut sw, &subscribed, "debug/add").action,
        Action::Debug {
            mask: 0b111_1111_1111
        }
    );
    assert_eq!(
        execute(&mut sw, &subscribed, "debug/del").action,
        Action::Debug { mask: 0 }
    );
    assert_eq!(
        run(&mut sw, "debug/del zz"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "plugin/list"),
        "0000 DATA END WITH '.'\nNAME                   HELP\n------------           ----\n.\n1002 No such file or directory\n\nvde$ "
    );
    assert_eq!(
        run(&mut sw, "plugin/add foo"),
        status("1002 No such file or directory")
    );
    for pdump in [
        "plugin/add pdump",
        "plugin/add /usr/lib/vde2/plugins/pdump.so",
    ] {
        let r = run(&mut sw, pdump);
        assert!(r.contains("use port/capture N (f2f-overlay capture -s DIR PORT FILE)\n.\n1095 Operation not supported\n"), "{r}");
    }
    assert_eq!(run(&mut sw, "plugin/add"), status("1022 Invalid argument"));
    assert_eq!(
        run(&mut sw, "plugin/del foo"),
        status("1002 No such file or directory")
    );
}

#[test]
fn port_access_control() {
    let mut sw = switch();
    let ok = status("1000 Success");
    run(&mut sw, "port/create 7");
    assert_eq!(run(&mut sw, "port/setuser 7 root"), ok);
    assert_eq!(sw.port(7).unwrap().access_user, Some(0));
    assert_eq!(run(&mut sw, "port/setuser 7 1000"), ok);
    assert!(run(&mut sw, "port/allprint 7").contains("Access Control: (User: 1000 - Group: NONE)"));
    assert_eq!(run(&mut sw, "port/setuser 7 12abc"), ok);
    assert_eq!(sw.port(7).unwrap().access_user, Some(12));
    for none in ["NONE", "ANY"] {
        run(&mut sw, "port/setuser 7 1");
        assert_eq!(run(&mut sw, &format!("port/setuser 7 {none}")), ok);
        assert_eq!(sw.port(7).unwrap().access_user, None);
    }
    assert_eq!(
        run(&mut sw, "port/setuser 7 nosuchuser"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "port/setuser 7"),
        status("1022 Invalid argument")
    );
    assert_eq!(
        run(&mut sw, "port/setuser 8 root"),
        status("1006 No such device or address")
    );
    assert_eq!(
        run(&mut sw, "port/setuser 99 root"),
        status("1022 Invalid argument")
    );
    assert_eq!(run(&mut sw, "port/setgroup 7 daemon"), ok);
    assert!(
        run(&mut sw, "port/allprint 7").contains("Access Control: (User: NONE - Group: daemon)")
    );
    assert_eq!(run(&mut sw, "port/setgroup 7 4242"), ok);
    assert_eq!(sw.port(7).unwrap().access_group, Some(4242));
    assert_eq!(run(&mut sw, "port/setgroup 7 NONE"), ok);
    assert_eq!(sw.port(7).unwrap().access_group, None);
}

#[test]
fn load_asks_the_shell_and_echoes_like_vde_switch() {
    let mut sw = switch();
    let reply = execute(&mut sw, &HOST, "load /etc/f2f.rc");
    assert_eq!(
        reply.action,
        Action::Load {
            path: "/etc/f2f.rc".into()
        }
    );
    assert_eq!(
        script_echo("/tmp/rc1", "port/create 12"),
        "vde[/tmp/rc1]: port/create 12\n"
    );
    assert_eq!(script_echo("/tmp/rc1", "a\rb"), "vde[/tmp/rc1]: a\\rb\n");
    let r = execute(&mut sw, &HOST, "port/showinfo");
    assert_eq!(
        r.render_body(),
        "0000 DATA END WITH '.'\nNumports=32\nHUB=false\ncounters=true\n.\n1000 Success\n"
    );
    assert_eq!(execute(&mut sw, &HOST, "logout").render_body(), "");
}

#[test]
fn descriptions_cannot_forge_console_lines() {
    let mut sw = switch();
    sw.attach(AttachRequest {
        port: PortRequest::Number(9),
        endpoint: Endpoint {
            id: 11,
            module: "unix prog",
            description: "evil\n.\n1000 Success\n\nvde$ \x1b[2J\t\\".into(),
            user: 0,
        },
        groups: vec![],
    })
    .unwrap();
    let out = run(&mut sw, "port/print 9");
    assert!(out.contains(
        "  -- endpoint ID 0011 module unix prog   : evil\\n.\\n1000 Success\\n\\nvde$ \\x1b[2J\\t\\\n.\n1000 Success"
    ), "{out}");
    assert_eq!(
        out.matches('\n').count(),
        9,
        "one line per field, nothing forged"
    );
    assert_eq!(escape_control("plain text"), "plain text");
}

#[test]
fn port_print_out_of_range_is_einval() {
    let mut sw = switch();
    assert_eq!(
        run(&mut sw, "port/print 99"),
        "0000 DATA END WITH '.'\n.\n1022 Invalid argument\n\nvde$ "
    );
}

#[test]
fn hash_setportmax_limits_learning_per_port_and_port_stats_counts_it() {
    let mut sw = switch();
    assert_eq!(run(&mut sw, "hash/setportmax 1"), status("1000 Success"));
    assert_eq!(sw.fdb().config().port_capacity, Some(1));
    let mut out = Vec::new();
    for src in 1..=3u8 {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, src, 0x88, 0xb5]);
        f.resize(60, 0);
        sw.decide(HOST.now(), 1, &f, &mut out);
    }
    let stats = run(&mut sw, "port/stats 1");
    assert!(stats.contains(" in_frames=1 "), "{stats}");
    assert!(stats.contains(" drop_mac_limit=2"), "{stats}");
    for bad in ["hash/setportmax -1", "hash/setportmax x", "hash/setportmax"] {
        assert_eq!(run(&mut sw, bad), status("1022 Invalid argument"), "{bad}");
    }
    assert_eq!(run(&mut sw, "hash/setportmax 0"), status("1000 Success"));
    assert_eq!(sw.fdb().config().port_capacity, None);
}
