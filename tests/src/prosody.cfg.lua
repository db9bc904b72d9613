-- The test server's configuration (spec/xmpp-transport.md §1), shared by the e2e harness
-- (tests/src/prosody.rs) and the benchmarks (tests/bench/switch-iperf.sh). Placeholders,
-- between at-signs: DIR, the server's own directory; PORT, its c2s port on 127.0.0.1; TLS
-- (true or false), TLS_MODULE (empty, or `, "tls"`) and TLS_SETTINGS (empty, or the `ssl`
-- certificate line) for STARTTLS. No `limits`, no `smacks`, Nagle off, large reads, MUC rooms
-- unlocked and without history.
run_as_root = true
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
certificates = "@DIR@/certs"
log = { { levels = { min = "info" }, to = "file", filename = "@DIR@/prosody.log" } }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { @PORT@ }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
s2s_ports = { }
modules_disabled = { "s2s", "s2s_auth_certs", "offline" }
modules_enabled = { "disco", "saslauth", "ping"@TLS_MODULE@ }
c2s_stanza_size_limit = 16*1024*1024
authentication = "internal_plain"
c2s_require_encryption = @TLS@
@TLS_SETTINGS@
allow_unencrypted_plain_auth = true
storage = "internal"
network_settings = { nagle = false }
network_default_read_size = 262144

VirtualHost "localhost"

Component "conference.localhost" "muc"
    muc_room_locking = false
    muc_room_default_history_length = 0
    muc_tombstones = false
