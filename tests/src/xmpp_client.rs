//! A raw XMPP client written by hand for the room tests: plaintext c2s on loopback, SASL PLAIN,
//! resource binding, joining a room, and sending whatever bytes the test wants as message
//! bodies (forged control messages, invalid JSON). Nothing is parsed beyond looking for the
//! replies it waits for.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::prosody::DOMAIN;

/// How long each step may wait for the server's reply.
const STEP: Duration = Duration::from_secs(5);

/// A logged-in, bound client.
#[derive(Debug)]
pub struct RawXmpp {
    tcp: TcpStream,
    /// Everything received so far.
    seen: String,
}

impl RawXmpp {
    /// Connects to `addr` and logs in as `user@localhost` with `password`.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> RawXmpp {
        let tcp = TcpStream::connect(addr).expect("connect to prosody");
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let mut c = RawXmpp {
            tcp,
            seen: String::new(),
        };
        c.open_stream();
        c.wait_for("PLAIN");
        let creds = STANDARD.encode(format!("\0{user}\0{password}"));
        c.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"
        ));
        c.wait_for("<success");
        c.seen.clear();
        c.open_stream();
        c.wait_for("urn:ietf:params:xml:ns:xmpp-bind");
        c.send(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>raw</resource></bind></iq>",
        );
        c.wait_for("id='bind1'");
        c
    }

    fn open_stream(&mut self) {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream to='{DOMAIN}' xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        ));
    }

    /// Writes raw XML.
    pub fn send(&mut self, xml: &str) {
        self.tcp
            .write_all(xml.as_bytes())
            .expect("write to prosody");
    }

    /// Reads until `text` has been received (panics after a few seconds).
    pub fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + STEP;
        let mut buf = [0u8; 4096];
        while !self.seen.contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} from the server; got: {}",
                self.seen
            );
            match self.tcp.read(&mut buf) {
                Ok(0) => panic!("server closed the stream; got: {}", self.seen),
                Ok(n) => self
                    .seen
                    .push_str(&String::from_utf8_lossy(buf.get(..n).unwrap_or_default())),
                Err(_) => {}
            }
        }
    }

    /// Joins `room` as `nick` and waits for our own presence.
    pub fn join(&mut self, room: &str, nick: &str) {
        self.send(&format!(
            "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>\
             <history maxstanzas='0'/></x></presence>"
        ));
        self.wait_for("code='110'");
    }

    /// Sends `body` to the whole room.
    pub fn groupchat(&mut self, room: &str, body: &str) {
        self.send(&format!(
            "<message type='groupchat' to='{room}'><body>{}</body></message>",
            escape(body)
        ));
    }

    /// Sends `body` privately to `room/nick`.
    pub fn private(&mut self, room: &str, nick: &str, body: &str) {
        self.send(&format!(
            "<message type='chat' to='{room}/{nick}'><body>{}</body></message>",
            escape(body)
        ));
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
