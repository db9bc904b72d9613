//! The command table: every path, its syntax and help text as vde_switch
//! 2.3.2 prints them in `help`, in vde_switch's order (the order decides
//! prefix matches: `port/createauto` before `port/create`), with our own
//! additions after vde_switch's rows of the same menu and our menus last.

use super::CommandInfo;

/// The commands this console implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cmd {
    DsShowinfo,
    Help,
    Logout,
    Shutdown,
    Showinfo,
    Load,
    DebugList,
    DebugAdd,
    DebugDel,
    PluginList,
    PluginAdd,
    PluginDel,
    HashShowinfo,
    HashSetsize,
    HashSetgcint,
    HashSetexpire,
    HashSetminper,
    HashPrint,
    HashFind,
    HashSetportmax,
    FstpShowinfo,
    FstpSetfstp,
    FstpSetedge,
    FstpBonus,
    FstpPrint,
    PortShowinfo,
    PortSetnumports,
    PortSethub,
    PortSetvlan,
    PortCreateauto,
    PortCreate,
    PortRemove,
    PortAllocatable,
    PortSetuser,
    PortSetgroup,
    PortResetcounter,
    PortEpclose,
    PortPrint,
    PortAllprint,
    PortStats,
    PortCapture,
    StatusJson,
    DhcpPrint,
    VlanCreate,
    VlanRemove,
    VlanAddport,
    VlanDelport,
    VlanPrint,
    VlanAllprint,
}

const fn menu(path: &'static str, help: &'static str) -> CommandInfo {
    CommandInfo {
        path,
        syntax: "============",
        help,
        handler: None,
    }
}

const fn cmd(path: &'static str, syntax: &'static str, help: &'static str, c: Cmd) -> CommandInfo {
    CommandInfo {
        path,
        syntax,
        help,
        handler: Some(c),
    }
}

/// The command table, in vde_switch's order (it decides prefix matches).
pub const COMMANDS: &[CommandInfo] = &[
    menu("ds", "DATA SOCKET MENU"),
    cmd("ds/showinfo", "", "show ds info", Cmd::DsShowinfo),
    cmd(
        "help",
        "[arg]",
        "Help (limited to arg when specified)",
        Cmd::Help,
    ),
    cmd("logout", "", "logout from this mgmt terminal", Cmd::Logout),
    cmd("shutdown", "", "shutdown of the switch", Cmd::Shutdown),
    cmd(
        "showinfo",
        "",
        "show switch version and info",
        Cmd::Showinfo,
    ),
    cmd("load", "path", "load a configuration script", Cmd::Load),
    menu("debug", "DEBUG MENU"),
    cmd("debug/list", "", "list debug categories", Cmd::DebugList),
    cmd(
        "debug/add",
        "dbgpath",
        "enable debug info for a given category",
        Cmd::DebugAdd,
    ),
    cmd(
        "debug/del",
        "dbgpath",
        "disable debug info for a given category",
        Cmd::DebugDel,
    ),
    menu("plugin", "PLUGINS MENU"),
    cmd("plugin/list", "", "list plugins", Cmd::PluginList),
    cmd("plugin/add", "library", "load a plugin", Cmd::PluginAdd),
    cmd("plugin/del", "name", "unload a plugin", Cmd::PluginDel),
    menu("hash", "HASH TABLE MENU"),
    cmd("hash/showinfo", "", "show hash info", Cmd::HashShowinfo),
    cmd("hash/setsize", "N", "change hash size", Cmd::HashSetsize),
    cmd(
        "hash/setgcint",
        "N",
        "change garbage collector interval",
        Cmd::HashSetgcint,
    ),
    cmd(
        "hash/setexpire",
        "N",
        "change hash entries expire time",
        Cmd::HashSetexpire,
    ),
    cmd(
        "hash/setminper",
        "N",
        "minimum persistence time",
        Cmd::HashSetminper,
    ),
    cmd("hash/print", "", "print the hash table", Cmd::HashPrint),
    cmd("hash/find", "MAC [VLAN]", "MAC lookup", Cmd::HashFind),
    cmd(
        "hash/setportmax",
        "N",
        "most addresses one port may hold, 0=no limit (port security)",
        Cmd::HashSetportmax,
    ),
    menu("fstp", "FAST SPANNING TREE MENU"),
    cmd("fstp/showinfo", "", "show fstp info", Cmd::FstpShowinfo),
    cmd(
        "fstp/setfstp",
        "0/1",
        "Fast spanning tree protocol 1=ON 0=OFF",
        Cmd::FstpSetfstp,
    ),
    cmd(
        "fstp/setedge",
        "VLAN PORT 1/0",
        "Define an edge port for a vlan 1=Y 0=N",
        Cmd::FstpSetedge,
    ),
    cmd(
        "fstp/bonus",
        "VLAN PORT COST",
        "set the port bonus for a vlan",
        Cmd::FstpBonus,
    ),
    cmd(
        "fstp/print",
        "[N]",
        "print fst data for the defined vlan",
        Cmd::FstpPrint,
    ),
    menu("port", "PORT STATUS MENU"),
    cmd("port/showinfo", "", "show port info", Cmd::PortShowinfo),
    cmd(
        "port/setnumports",
        "N",
        "set the number of ports",
        Cmd::PortSetnumports,
    ),
    cmd("port/sethub", "0/1", "1=HUB 0=switch", Cmd::PortSethub),
    cmd(
        "port/setvlan",
        "N VLAN",
        "set port VLAN (untagged)",
        Cmd::PortSetvlan,
    ),
    cmd(
        "port/createauto",
        "",
        "create a port with an automatically allocated id (inactive|notallocatable)",
        Cmd::PortCreateauto,
    ),
    cmd(
        "port/create",
        "N",
        "create the port N (inactive|notallocatable)",
        Cmd::PortCreate,
    ),
    cmd("port/remove", "N", "remove the port N", Cmd::PortRemove),
    cmd(
        "port/allocatable",
        "N 0/1",
        "Is the port allocatable as unnamed? 1=Y 0=N",
        Cmd::PortAllocatable,
    ),
    cmd(
        "port/setuser",
        "N user",
        "access control: set user",
        Cmd::PortSetuser,
    ),
    cmd(
        "port/setgroup",
        "N user",
        "access control: set group",
        Cmd::PortSetgroup,
    ),
    cmd(
        "port/epclose",
        "N ID",
        "remove the endpoint port N/id ID",
        Cmd::PortEpclose,
    ),
    cmd(
        "port/resetcounter",
        "[N]",
        "reset the port (N) counters",
        Cmd::PortResetcounter,
    ),
    cmd(
        "port/print",
        "[N]",
        "print the port/endpoint table",
        Cmd::PortPrint,
    ),
    cmd(
        "port/allprint",
        "[N]",
        "print the port/endpoint table (including inactive port)",
        Cmd::PortAllprint,
    ),
    cmd(
        "port/stats",
        "[N]",
        "print the port counters with drops by reason",
        Cmd::PortStats,
    ),
    cmd(
        "port/capture",
        "N [COUNT]",
        "stream the frames passing port N (f2f-overlay capture)",
        Cmd::PortCapture,
    ),
    menu("vlan", "VLAN MANAGEMENT MENU"),
    cmd(
        "vlan/create",
        "N",
        "create the VLAN with tag N",
        Cmd::VlanCreate,
    ),
    cmd(
        "vlan/remove",
        "N",
        "remove the VLAN with tag N",
        Cmd::VlanRemove,
    ),
    cmd(
        "vlan/addport",
        "N PORT",
        "add port to the vlan N (tagged)",
        Cmd::VlanAddport,
    ),
    // vde_switch 2.3.2's help really says "add port" here (spec/vde-console.md §3).
    cmd(
        "vlan/delport",
        "N PORT",
        "add port to the vlan N (tagged)",
        Cmd::VlanDelport,
    ),
    cmd(
        "vlan/print",
        "[N]",
        "print the list of defined vlan",
        Cmd::VlanPrint,
    ),
    cmd(
        "vlan/allprint",
        "[N]",
        "print the list of defined vlan (including inactive port)",
        Cmd::VlanAllprint,
    ),
    menu("status", "STATUS MENU (f2f-overlay)"),
    cmd(
        "status/json",
        "",
        "the switch's state as one line of JSON (f2f-overlay status)",
        Cmd::StatusJson,
    ),
    menu("dhcp", "DHCP SERVER MENU (f2f-overlay)"),
    cmd(
        "dhcp/print",
        "",
        "print the DHCP server: settings, counters, leases",
        Cmd::DhcpPrint,
    ),
];

/// Paths of the commands that are ours, not vde_switch's.
pub const EXTENSIONS: &[&str] = &[
    "hash/setportmax",
    "port/stats",
    "port/capture",
    "status",
    "status/json",
    "dhcp",
    "dhcp/print",
];
