//! Image provisioning's shell (`join --serve-image BUNDLE` on the master,
//! `join --vm room:` on a member), around [`f2f_core::provision`].
//!
//! The master hashes its bundle's files at start ([`offer_bundle`]) and
//! offers them in its grants; a connection to its `--listen` port whose
//! session says [`Purpose::Image`] is handed here by the links
//! ([`serve`]) instead of becoming a switch port. A member fetches every file
//! it lacks into `STATE/images/NAME/FILE.part` and renames it once its
//! SHA-256 matched ([`fetch`]); a broken connection is retried and resumes
//! at the `.part`'s size; a file already in place with the right hash is
//! not fetched again. Nothing goes through the XMPP server: no direct
//! connection to the master, no image.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use f2f_core::link::wire::push_frame;
use f2f_core::link::{LinkConfig, Purpose, Role, Session, Timers};
use f2f_core::provision::wire::{encode, TransferMessage, MAX_CHUNK};
use f2f_core::provision::{
    check_file_name, Download, Hasher, ImageOffer, OfferedFile, Received, Send, Server,
    TransferError,
};
use f2f_core::room::Endpoint;
use f2f_core::vm::{ImageToml, BUNDLE_FILE};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::keys::{self, Key};

/// What `--vm` says to take the master's offered image.
pub const ROOM_IMAGE: &str = "room:";
/// Where fetched bundles go, under the state directory.
pub const IMAGES_DIR: &str = "images";
/// Attempts at a transfer before giving up (each resumes the last).
pub const ATTEMPTS: u32 = 8;
/// Longest pause between attempts.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Time allowed for the TCP connection to the master.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most file bytes the server puts in flight per turn.
const SEND_BATCH: usize = 4 * MAX_CHUNK;
/// How often progress is shown: redrawn on a terminal, logged otherwise.
const BAR_EVERY: Duration = Duration::from_millis(200);
const LOG_EVERY: Duration = Duration::from_secs(1);

/// The bundle a master serves.
#[derive(Debug)]
pub struct Served {
    server: Server,
    dir: PathBuf,
    /// Bytes per second per member, if limited.
    rate: Option<u64>,
}

impl Served {
    /// The offer its grants carry.
    pub fn offer(&self) -> &ImageOffer {
        self.server.offer()
    }
}

/// The offer for the bundle directory `bundle`: `image.toml` and the files it
/// names (each directly in the bundle), hashed; fetched at `endpoint`.
pub fn offer_bundle(
    bundle: &Path,
    endpoint: Option<Endpoint>,
    rate: Option<u64>,
) -> Result<Arc<Served>> {
    let what = || format!("--serve-image {}", bundle.display());
    let toml_path = bundle.join(BUNDLE_FILE);
    let text = fs::read_to_string(&toml_path).with_context(|| {
        format!(
            "{}: not an image bundle (no readable {BUNDLE_FILE})",
            what()
        )
    })?;
    let toml = ImageToml::parse(&text).map_err(|e| anyhow!("{}: {BUNDLE_FILE}: {e}", what()))?;
    let mut names = vec![BUNDLE_FILE.to_string()];
    for path in [Some(&toml.disk), toml.kernel.as_ref(), toml.initrd.as_ref()]
        .into_iter()
        .flatten()
    {
        let name = path.to_string_lossy().to_string();
        check_file_name(&name).map_err(|e| {
            anyhow!(
                "{}: {e} (a served bundle keeps its files beside {BUNDLE_FILE})",
                what()
            )
        })?;
        names.push(name);
    }
    let name = bundle
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_default();
    let mut files = Vec::new();
    for file in names {
        let path = bundle.join(&file);
        let (size, sha256) =
            hash_file(&path).with_context(|| format!("{}: cannot read {file}", what()))?;
        files.push(OfferedFile {
            name: file,
            size,
            sha256,
        });
    }
    let offer = ImageOffer {
        name,
        endpoint,
        files,
    };
    offer.validate().map_err(|e| anyhow!("{}: {e}", what()))?;
    info!(
        image = offer.name,
        bytes = offer.total_size(),
        "serving the image to the room's members"
    );
    Ok(Arc::new(Served {
        server: Server::new(offer),
        dir: bundle.to_path_buf(),
        rate,
    }))
}

/// Size and SHA-256 of the file at `path`.
fn hash_file(path: &Path) -> io::Result<(u64, f2f_core::provision::Sha256Hex)> {
    let mut file = File::open(path)?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((size, hasher.finish()));
        }
        size += n as u64;
        hasher.update(buf.get(..n).unwrap_or_default());
    }
}

/// One end of a transfer, driven by [`transfer`].
trait Side {
    /// A transfer message arrived; true when the transfer is over.
    fn on_message(&mut self, message: &[u8]) -> Result<bool>;
    /// Append the messages to send now (link-framed) to `out`; returns when
    /// to ask again if this side is holding back (a rate limit).
    fn produce(&mut self, out: &mut Vec<u8>) -> Result<Option<tokio::time::Instant>>;
}

/// Appends transfer `message` to `out` as one session message.
fn push(out: &mut Vec<u8>, message: &TransferMessage<'_>) {
    let mut bytes = Vec::new();
    encode(message, &mut bytes);
    // Every transfer message is within MAX_CHUNK plus a few bytes, far
    // below a session message's limit.
    let _ = push_frame(out, &bytes);
}

/// Moves `side`'s messages over `session` on `stream` until it says the
/// transfer is over (Ok) or the connection or session fails (the reason).
/// `out` holds bytes already taken from the session but not yet written.
async fn transfer(
    stream: &TcpStream,
    session: &mut Session,
    clock: Clock,
    side: &mut impl Side,
    mut out: Vec<u8>,
) -> Result<()> {
    let mut written = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut wake: Option<tokio::time::Instant> = None;
    let mut done = false;
    let mut messages = Vec::new();
    loop {
        if written == out.len() {
            out.clear();
            written = 0;
            let due = wake.is_none_or(|w| tokio::time::Instant::now() >= w);
            if session.is_up() && !done && due {
                messages.clear();
                wake = side.produce(&mut messages)?;
                if !messages.is_empty() {
                    session.send_messages(&messages)?;
                }
            }
            session.poll_transmit(&mut out);
            if done && out.is_empty() {
                return Ok(());
            }
        }
        if let Some(e) = session.error() {
            return Err(anyhow!("{e}"));
        }
        let timer = session
            .poll_timeout()
            .map(|t| tokio::time::Instant::from_std(clock.os_instant(t)));
        let sleep_until = match (timer, wake) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a
                .or(b)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
        };
        tokio::select! {
            r = stream.writable(), if written < out.len() => {
                r?;
                match stream.try_write(out.get(written..).unwrap_or_default()) {
                    Ok(0) => bail!("connection closed"),
                    Ok(n) => {
                        written += n;
                        session.count_sent(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.into()),
                }
            }
            r = stream.readable() => {
                r?;
                let n = match stream.try_read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e.into()),
                };
                session.handle_input(buf.get(..n).unwrap_or_default());
                while session.poll_frames(clock.now())? {
                    for (_, message) in session.frames() {
                        done |= side.on_message(message)?;
                    }
                }
                if n == 0 && !done {
                    bail!("connection closed");
                }
            }
            () = tokio::time::sleep_until(sleep_until) => {
                session.handle_timeout(clock.now())?;
            }
        }
    }
}

/// The master's side of one connection.
struct Sender<'a> {
    served: &'a Served,
    /// The file being sent and where its next byte comes from.
    sending: Option<(Send, File)>,
    /// Bytes sent and since when, for the rate limit.
    sent: u64,
    start: tokio::time::Instant,
}

impl Side for Sender<'_> {
    fn on_message(&mut self, message: &[u8]) -> Result<bool> {
        let send = self.served.server.handle(message)?;
        let name = self
            .served
            .offer()
            .files
            .get(send.index)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let mut file = File::open(self.served.dir.join(&name))
            .with_context(|| format!("cannot open {name}"))?;
        file.seek(SeekFrom::Start(send.offset))?;
        info!(file = name, offset = send.offset, "sending an image file");
        self.sending = Some((send, file));
        Ok(false)
    }

    fn produce(&mut self, out: &mut Vec<u8>) -> Result<Option<tokio::time::Instant>> {
        let Some((send, file)) = &mut self.sending else {
            return Ok(None);
        };
        let mut budget = SEND_BATCH as u64;
        if let Some(rate) = self.served.rate.filter(|r| *r > 0) {
            let elapsed = self.start.elapsed().as_secs_f64();
            let allowed = (elapsed * rate as f64) as u64 + MAX_CHUNK as u64;
            budget = budget.min(allowed.saturating_sub(self.sent));
            if budget == 0 {
                let at = (self.sent as f64 + MAX_CHUNK as f64) / rate as f64;
                return Ok(Some(self.start + Duration::from_secs_f64(at)));
            }
        }
        let mut chunk = vec![0u8; MAX_CHUNK];
        while budget > 0 && send.offset < send.size {
            let want = (send.size - send.offset).min(budget).min(MAX_CHUNK as u64);
            let slot = chunk
                .get_mut(..usize::try_from(want).unwrap_or(MAX_CHUNK))
                .unwrap_or_default();
            let n = file.read(slot)?;
            if n == 0 {
                bail!("the served file is shorter than offered (changed on disk?)");
            }
            push(
                out,
                &TransferMessage::Chunk(slot.get(..n).unwrap_or_default()),
            );
            send.offset += n as u64;
            self.sent += n as u64;
            budget = budget.saturating_sub(n as u64);
        }
        if send.offset >= send.size {
            push(out, &TransferMessage::End);
            self.sending = None;
        }
        Ok(None)
    }
}

/// Serves one accepted connection whose session came up for `purpose`
/// (`out`: the session's bytes not yet written). Returns how it ended.
pub async fn serve(
    stream: TcpStream,
    mut session: Session,
    out: Vec<u8>,
    purpose: Purpose,
    served: Option<Arc<Served>>,
    clock: Clock,
) -> String {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let served = match (purpose, served) {
        (Purpose::Image, Some(s)) => s,
        (Purpose::Image, None) => {
            let mut refusal = Vec::new();
            push(
                &mut refusal,
                &TransferMessage::Error("this node serves no image"),
            );
            let mut sender = Refuse(Some(refusal));
            let _ = transfer(&stream, &mut session, clock, &mut sender, out).await;
            return "image asked for, but none is served".to_string();
        }
        (other, _) => return format!("a session for an unknown purpose ({other:?})"),
    };
    let mut sender = Sender {
        served: &served,
        sending: None,
        sent: 0,
        start: tokio::time::Instant::now(),
    };
    let result = transfer(&stream, &mut session, clock, &mut sender, out).await;
    let reason = match result {
        Ok(()) => "image transfer done".to_string(),
        Err(_) if sender.sending.is_none() && sender.sent > 0 => {
            "image transfer done: the member closed the connection".to_string()
        }
        Err(e) => format!("image transfer ended: {e:#}"),
    };
    info!(%peer, bytes = sender.sent, "{reason}");
    reason
}

/// Sends one message, then is done.
struct Refuse(Option<Vec<u8>>);

impl Side for Refuse {
    fn on_message(&mut self, _: &[u8]) -> Result<bool> {
        Ok(false)
    }

    fn produce(&mut self, out: &mut Vec<u8>) -> Result<Option<tokio::time::Instant>> {
        if let Some(m) = self.0.take() {
            out.extend_from_slice(&m);
        }
        Ok(None)
    }
}

/// Fetches the image of `offer` into `state_dir/images/NAME/` (what is
/// already there and verified is kept) in at most `attempts` connections,
/// and returns that directory.
pub async fn fetch(
    offer: &ImageOffer,
    network_key: Key,
    state_dir: &Path,
    attempts: u32,
) -> Result<PathBuf> {
    let dir = state_dir.join(IMAGES_DIR).join(&offer.name);
    crate::state::ensure_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let Some(endpoint) = &offer.endpoint else {
        bail!(
            "the master offers image {} but no address to fetch it from (it needs --listen \
             with a specific address, or --advertise): images travel only over a direct \
             connection to the master, never through the XMPP server",
            offer.name
        );
    };
    let config = LinkConfig {
        network_key,
        node_secret: keys::node_key(state_dir)?,
        timers: Timers::default(),
    };
    let mut pause = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        let mut receiver = Receiver::open(offer, &dir)?;
        if receiver.pending.is_empty() {
            info!(image = offer.name, dir = %dir.display(), "image in place, hashes verified");
            return Ok(dir);
        }
        let result = fetch_once(endpoint, &config, &mut receiver).await;
        receiver.progress.finish();
        match result {
            Ok(()) => continue,
            Err(e) if attempt >= attempts => {
                bail!(
                    "cannot fetch image {} from the master at {endpoint}: {e:#}",
                    offer.name
                );
            }
            Err(e) => warn!(
                image = offer.name,
                attempt, "image transfer failed, retrying in {pause:?}: {e:#}"
            ),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
        attempt += 1;
    }
}

/// One connection to the master, until every pending file is in place.
async fn fetch_once(
    endpoint: &Endpoint,
    config: &LinkConfig,
    receiver: &mut Receiver,
) -> Result<()> {
    let no_path = |why: String| {
        anyhow!(
            "{why}: no direct path to the master (images travel only over a direct \
             connection to it, never through the XMPP server: its --listen port must be \
             reachable from here)"
        )
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(endpoint.as_str()))
        .await
        .map_err(|_| no_path(format!("connecting timed out after {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| no_path(format!("cannot connect: {e}")))?;
    let _ = stream.set_nodelay(true);
    let clock = Clock::start();
    let mut session = Session::with_purpose(
        clock.now(),
        Role::Initiator,
        config,
        keys::random_key(),
        Purpose::Image,
    )?;
    transfer(&stream, &mut session, clock, receiver, Vec::new()).await
}

/// The member's side: the files still to fetch, the first in progress.
struct Receiver {
    dir: PathBuf,
    pending: Vec<Download>,
    /// The first pending file's `.part`, open for appending, once requested.
    part: Option<File>,
    progress: Progress,
}

impl Receiver {
    /// What is still to fetch for `offer` into `dir`: files in place are
    /// verified (and kept when good), `.part` files are read to resume.
    fn open(offer: &ImageOffer, dir: &Path) -> Result<Receiver> {
        let mut pending = Vec::new();
        let mut held = 0;
        for file in &offer.files {
            let done = dir.join(&file.name);
            if done.exists() {
                let mut check = Download::new(file);
                feed(&done, &mut check)?;
                if check.verified() {
                    held += file.size;
                    continue;
                }
                warn!(
                    file = file.name,
                    "the copy in place has the wrong hash: fetching it again"
                );
                fs::remove_file(&done)?;
            }
            let part = part_path(dir, &file.name);
            let mut download = Download::new(file);
            if part.exists() && feed(&part, &mut download).is_err() {
                warn!(
                    file = file.name,
                    "the .part is longer than the file: starting over"
                );
                fs::remove_file(&part)?;
                download = Download::new(file);
            }
            if download.offset() > 0 {
                info!("resuming {} at {} bytes", file.name, download.offset());
            }
            held += download.offset();
            pending.push(download);
        }
        Ok(Receiver {
            dir: dir.to_path_buf(),
            pending,
            part: None,
            progress: Progress::new(&offer.name, offer.total_size(), held),
        })
    }

    fn complete(&mut self) -> Result<()> {
        let Some(download) = self.pending.first() else {
            return Ok(());
        };
        let name = download.file().name.clone();
        if let Some(part) = self.part.take() {
            part.sync_all()?;
        }
        fs::rename(part_path(&self.dir, &name), self.dir.join(&name))?;
        self.progress.clear();
        info!(file = name, sha256 = %download.file().sha256, "image file verified");
        self.pending.remove(0);
        Ok(())
    }
}

impl Side for Receiver {
    fn on_message(&mut self, message: &[u8]) -> Result<bool> {
        let Some(download) = self.pending.first_mut() else {
            bail!("a message after the last file");
        };
        match download.handle(message) {
            Ok(Received::Append(data)) => {
                let part = self
                    .part
                    .as_mut()
                    .ok_or_else(|| anyhow!("data before a request"))?;
                part.write_all(data)?;
                self.progress.add(data.len() as u64);
                Ok(false)
            }
            Ok(Received::Complete) => {
                self.complete()?;
                Ok(self.pending.is_empty())
            }
            Err(e @ (TransferError::HashMismatch { .. } | TransferError::Oversize { .. })) => {
                let part = part_path(&self.dir, &download.file().name);
                self.part = None;
                let _ = fs::remove_file(&part);
                Err(anyhow!("{e}: {} deleted", part.display()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn produce(&mut self, out: &mut Vec<u8>) -> Result<Option<tokio::time::Instant>> {
        if self.part.is_some() {
            return Ok(None);
        }
        let Some(download) = self.pending.first() else {
            return Ok(None);
        };
        let path = part_path(&self.dir, &download.file().name);
        let part = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.part = Some(part);
        let mut request = Vec::new();
        download.request(&mut request);
        let _ = push_frame(out, &request);
        Ok(None)
    }
}

fn part_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.part"))
}

/// Hands the bytes of the file at `path` to `download`, in order.
fn feed(path: &Path, download: &mut Download) -> Result<()> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        download.resume(buf.get(..n).unwrap_or_default())?;
    }
}

/// A progress bar on a terminal (stderr), a log line a second otherwise.
struct Progress {
    name: String,
    total: u64,
    done: u64,
    start: std::time::Instant,
    at_start: u64,
    /// When progress was last shown (or the start).
    last: std::time::Instant,
    /// Whether anything was shown.
    shown: bool,
    bar: bool,
}

impl Progress {
    fn new(name: &str, total: u64, done: u64) -> Progress {
        Progress {
            name: name.to_string(),
            total,
            done,
            start: std::time::Instant::now(),
            at_start: done,
            last: std::time::Instant::now(),
            shown: false,
            bar: io::stderr().is_terminal(),
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        let every = if self.bar { BAR_EVERY } else { LOG_EVERY };
        if self.last.elapsed() >= every {
            self.last = std::time::Instant::now();
            self.shown = true;
            self.show();
        }
    }

    fn show(&self) {
        const MIB: f64 = 1024.0 * 1024.0;
        let pct = (self.done * 100).checked_div(self.total).unwrap_or(100);
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = (self.done - self.at_start) as f64 / MIB / secs;
        let (done, total) = (self.done as f64 / MIB, self.total as f64 / MIB);
        if self.bar {
            let filled = usize::try_from(pct / 4).unwrap_or(25);
            eprint!(
                "\r  image {} [{:<25}] {pct:>3}% {done:.1}/{total:.1} MiB {rate:.1} MiB/s ",
                self.name,
                "#".repeat(filled)
            );
        } else {
            info!(
                "fetching image {}: {} of {} bytes ({pct}%, {rate:.1} MiB/s)",
                self.name, self.done, self.total
            );
        }
    }

    /// Wipes the bar (a terminal) so a log line gets a line of its own; the
    /// next update draws it again.
    fn clear(&self) {
        if self.bar && self.shown {
            eprint!("\r\x1b[2K");
        }
    }

    /// Ends the bar's line (a terminal) after a last update.
    fn finish(&mut self) {
        if self.shown {
            self.show();
            if self.bar {
                eprintln!();
            }
            self.shown = false;
        }
    }
}
