//! Reaching the XMPP server: our own [`ServerConnector`] for tokio-xmpp, and
//! the one-shot preflight that turns a bad password or an unreachable server
//! into a one-line error (tokio-xmpp itself retries forever and reports
//! neither, spec/xmpp-transport.md §3).
//!
//! The connector sets TCP_NODELAY (the built-in ones never do; with Nagle,
//! round trips through the server grow from under 1 ms to 40–90 ms) and does
//! STARTTLS itself with rustls, verified against the system's roots plus the
//! `--ca FILE` certificates (a server certificate given there is trusted as
//! itself, even a self-signed one marked CA): tokio-xmpp's own TLS setup has
//! no way to add a root. STARTTLS is used whenever the server offers it; plaintext only when
//! `--server` is a loopback address and the server offers no STARTTLS
//! (spec/cli.md), on a fresh connection (a stream cannot restart without
//! negotiation).

use std::borrow::Cow;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use sasl::common::{ChannelBinding, Credentials};
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::{verify_server_name, WebPkiServerVerifier};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::error::{AuthError, Error as XmppError, ProtocolError};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts,
    XmppStreamElement,
};

/// The XMPP client namespace.
const JABBER_CLIENT: &str = "jabber:client";
/// The port of XMPP client connections when `--server` names none.
pub const DEFAULT_PORT: u16 = 5222;
/// How long the preflight may take in all.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream to the server, TLS or not.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How to reach the server: its address, the TLS settings STARTTLS verifies
/// against, and whether plaintext is allowed (loopback).
#[derive(Clone)]
pub struct Connector {
    /// `HOST:PORT` to dial.
    addr: String,
    tls: Arc<ClientConfig>,
    /// The server must offer STARTTLS (it is not on loopback).
    required: bool,
    /// The last connection was encrypted.
    encrypted: Arc<AtomicBool>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("addr", &self.addr)
            .field("required", &self.required)
            .field("encrypted", &self.is_tls())
            .finish()
    }
}

impl Connector {
    /// The connector for `server` (`HOST:PORT` or `HOST`; default: the
    /// JID's domain on port 5222). STARTTLS against the system roots and
    /// `ca`; plaintext only when the host is a loopback address and the
    /// server offers no STARTTLS.
    pub fn new(jid: &BareJid, server: Option<&str>, ca: Option<&Path>) -> Result<Connector> {
        let addr = match server {
            Some(s) if has_port(s) => s.to_string(),
            Some(s) => format!("{s}:{DEFAULT_PORT}"),
            None => format!("{}:{DEFAULT_PORT}", jid.domain()),
        };
        let required = !is_loopback(&addr);
        let tls = Arc::new(tls_config(ca, required)?);
        Ok(Connector {
            addr,
            tls,
            required,
            encrypted: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address dialed.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the last connection was encrypted.
    pub fn is_tls(&self) -> bool {
        self.encrypted.load(Ordering::Relaxed)
    }
}

/// Whether `s` ends in `:PORT` (an IPv6 address needs brackets then).
fn has_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

/// Whether `addr` (`HOST:PORT`) names a loopback host: `localhost`, an
/// address in 127.0.0.0/8, or `[::1]`.
pub fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// rustls settings: the system's roots, plus every certificate in `ca`.
/// Having no root at all is an error only when TLS is `required`.
fn tls_config(ca: Option<&Path>, required: bool) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let mut pinned = Vec::new();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                anyhow::anyhow!("--ca {}: cannot read certificates: {e}", path.display())
            })?;
        if certs.is_empty() {
            bail!("--ca {}: no PEM certificate in it", path.display());
        }
        for cert in &certs {
            roots
                .add(cert.clone())
                .with_context(|| format!("--ca {}: not a usable CA certificate", path.display()))?;
        }
        pinned = certs;
    } else if added == 0 && required {
        bail!(
            "no system CA certificates found (install ca-certificates), \
             or give the server's CA with --ca FILE"
        );
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    if pinned.is_empty() {
        return Ok(builder.with_root_certificates(roots).with_no_client_auth());
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .context("TLS setup")?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { webpki, pinned }))
        .with_no_client_auth())
}

/// The usual verification against the roots (the system's and `--ca`'s),
/// and besides it a server certificate that is itself one of `--ca`'s, as
/// long as it names the server: a self-signed server certificate (as
/// `prosodyctl cert generate` makes) says CA:TRUE, which the web PKI rules
/// refuse in a server's own certificate.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// `--ca`'s certificates.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .or_else(|refused| {
                if !self.pinned.iter().any(|c| c == end_entity) {
                    return Err(refused);
                }
                verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

impl ServerConnector for Connector {
    type Stream = BufStream<Box<dyn Io>>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), XmppError> {
        let domain = jid.domain().as_str();
        let tcp = connect_nodelay(&self.addr).await?;
        let offered = starttls(tcp, domain, ns, timeouts, Arc::clone(&self.tls)).await?;
        let encrypted = offered.is_some();
        let io: Box<dyn Io> = match offered {
            Some(tls) => tls,
            None if self.required => return Err(XmppError::Protocol(ProtocolError::NoTls)),
            None => Box::new(connect_nodelay(&self.addr).await?),
        };
        self.encrypted.store(encrypted, Ordering::Relaxed);
        let header = StreamHeader {
            to: Some(Cow::Borrowed(domain)),
            from: None,
            id: None,
        };
        let stream = initiate_stream(BufStream::new(io), ns, header, timeouts).await?;
        Ok((stream, ChannelBinding::None))
    }
}

/// A TCP connection to `addr` with Nagle off.
async fn connect_nodelay(addr: &str) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Upgrade `tcp` with STARTTLS (RFC 6120 §5): open a stream, see whether the
/// server offers it (`None`: it does not, and the connection is spent), ask,
/// wait for `<proceed/>`, then the TLS handshake verified for `domain`.
async fn starttls(
    tcp: TcpStream,
    domain: &str,
    ns: &'static str,
    timeouts: Timeouts,
    config: Arc<ClientConfig>,
) -> Result<Option<Box<dyn Io>>, XmppError> {
    let header = StreamHeader {
        to: Some(Cow::Borrowed(domain)),
        from: None,
        id: None,
    };
    let pending = initiate_stream(BufStream::new(tcp), ns, header, timeouts).await?;
    let (features, mut stream) = pending.recv_features::<FallibleStreamElement>().await?;
    if !features.can_starttls() {
        return Ok(None);
    }
    stream
        .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
            starttls::Request,
        )))
        .await?;
    loop {
        match stream
            .next()
            .await
            .map(|r| r.and_then(|e| e.into_read_error()))
        {
            Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)))) => break,
            Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(e.into()),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e).into())
            }
            None | Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(XmppError::Disconnected)
            }
        }
    }
    let tcp = stream.into_inner().into_inner();
    let name = ServerName::try_from(domain.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = TlsConnector::from(config).connect(name, tcp).await?;
    Ok(Some(Box::new(tls)))
}

/// Connect and authenticate once, then hang up: the check that a wrong
/// password or an unreachable server fails fast with a one-line reason
/// (tokio-xmpp's stream would retry silently forever).
pub async fn preflight(connector: &Connector, jid: &BareJid, password: &str) -> Result<()> {
    let attempt = async {
        let (pending, binding) = connector
            .connect(&Jid::from(jid.clone()), JABBER_CLIENT, Timeouts::tight())
            .await
            .map_err(Failure::of)?;
        let (features, stream) = pending
            .recv_features::<FallibleStreamElement>()
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        let creds = Credentials::default()
            .with_username(jid.node().map_or("", |n| n.as_str()))
            .with_password(password)
            .with_channel_binding(binding);
        match tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds).await {
            Ok(_) => Ok(()),
            Err(XmppError::Auth(AuthError::Fail(cond))) => {
                Err(Failure::Refused(format!("{cond:?}")))
            }
            Err(XmppError::Auth(e)) => Err(Failure::Refused(e.to_string())),
            Err(e) => Err(Failure::Connect(e.to_string())),
        }
    };
    let server = connector.addr();
    match tokio::time::timeout(PREFLIGHT_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Failure::Refused(why))) => bail!(
            "the XMPP server {server} refused the login of {jid} ({why}): \
             check --jid and the password in --password-file"
        ),
        Ok(Err(Failure::Certificate(why))) => bail!(
            "the XMPP server {server} has a TLS certificate we do not trust ({why}): \
             pass the certificate of its CA (or its own, if self-signed) with --ca FILE"
        ),
        Ok(Err(Failure::Connect(why))) => bail!(
            "cannot reach the XMPP server {server} ({why}): check --server HOST:PORT \
             and that the server runs{}",
            if connector.required {
                " and offers STARTTLS"
            } else {
                ""
            }
        ),
        Err(_) => bail!(
            "the XMPP server {server} did not complete a login within {}s: \
             check --server HOST:PORT",
            PREFLIGHT_TIMEOUT.as_secs()
        ),
    }
}

/// What went wrong in the preflight.
enum Failure {
    /// No stream to the server.
    Connect(String),
    /// TLS failed on the server's certificate.
    Certificate(String),
    /// The server said no to the credentials.
    Refused(String),
}

impl Failure {
    /// A failed connection, told apart by whether the server's certificate
    /// was the problem.
    fn of(e: XmppError) -> Failure {
        let bad_cert = match &e {
            XmppError::Io(io) => io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<tokio_rustls::rustls::Error>())
                .is_some_and(|tls| {
                    matches!(
                        tls,
                        tokio_rustls::rustls::Error::InvalidCertificate(_)
                            | tokio_rustls::rustls::Error::UnsupportedNameType
                    )
                }),
            _ => false,
        };
        if bad_cert {
            Failure::Certificate(e.to_string())
        } else {
            Failure::Connect(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for a in ["127.0.0.1:5222", "localhost:1", "[::1]:5222", "127.9.9.9:5"] {
            assert!(is_loopback(a), "{a}");
        }
        for a in ["10.0.0.1:5222", "example.org:5222", "[2001:db8::1]:5222"] {
            assert!(!is_loopback(a), "{a}");
        }
        assert!(has_port("h:1") && has_port("[::1]:5") && !has_port("h") && !has_port("::1"));
    }

    /// A server on 127.0.0.1 that answers every connection's stream header with features
    /// offering no STARTTLS; returns its address and how many connections it took.
    async fn server_without_starttls() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    let reply = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                        xmlns:stream='http://etherx.jabber.org/streams' version='1.0' \
                        from='localhost' id='x'><stream:features/>";
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.read(&mut buf).await;
                });
            }
        });
        (addr, count)
    }

    fn connector(addr: &str, required: bool) -> Connector {
        Connector {
            addr: addr.to_string(),
            tls: Arc::new(tls_config(None, false).unwrap()),
            required,
            encrypted: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Off loopback a server without STARTTLS is refused; on loopback the connector falls back
    /// to plaintext on a fresh connection and says the stream is not encrypted.
    #[tokio::test]
    async fn plaintext_only_where_allowed() {
        let (addr, count) = server_without_starttls().await;
        let jid = Jid::new("carol@localhost").unwrap();
        let strict = connector(&addr, true);
        let refused = strict.connect(&jid, JABBER_CLIENT, Timeouts::tight()).await;
        assert!(
            matches!(refused, Err(XmppError::Protocol(ProtocolError::NoTls))),
            "{:?}",
            refused.err()
        );
        assert_eq!(count.load(Ordering::Relaxed), 1);
        let loopback = connector(&addr, false);
        let plain = loopback
            .connect(&jid, JABBER_CLIENT, Timeouts::tight())
            .await;
        assert!(plain.is_ok(), "{:?}", plain.err());
        assert!(!loopback.is_tls());
        assert_eq!(
            count.load(Ordering::Relaxed),
            3,
            "a probe, then a plaintext stream"
        );
    }
}
