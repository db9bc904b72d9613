//! Image provisioning, sans-IO: a member that lacks the room's base image
//! fetches it from the master over a direct, encrypted connection (a link
//! session with [`Purpose::Image`](crate::link::Purpose::Image)), never
//! through the XMPP server.
//!
//! The master offers its bundle in every grant ([`ImageOffer`]: the bundle's
//! name, where to fetch it, and each file's size and SHA-256). The member
//! asks for one file at a time from the length of what it already holds
//! ([`Download`]: resumable after a broken connection), and renames a file
//! into place only once its hash matched. The master answers each request
//! from its own copy ([`Server`]); both ends refuse anything the offer does
//! not name, so no path outside the bundle is ever read or written.
//!
//! The shell owns the files, the socket and the clock; this module decides
//! what to ask, checks what arrives and says what to write.

pub mod wire;

use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::wire::TransferMessage;
use crate::room::Endpoint;

/// Most files in one offer (`image.toml`, disk, kernel, initrd).
pub const MAX_FILES: usize = 8;
/// Longest bundle or file name, bytes.
pub const MAX_NAME: usize = 64;
/// Largest file offered (1 TiB): a typo or attack guard, not a real limit.
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// Why a transfer, an offer or a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// Bytes that are not a transfer message, or a message not allowed now.
    #[error("malformed transfer message: {0}")]
    Malformed(String),
    /// A name that could leave the bundle directory or is not allowed.
    #[error("bad name {name:?}: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More bytes than the offer's size for the file.
    #[error("{name}: the master sent more than the offered {size} bytes")]
    Oversize {
        /// The file.
        name: String,
        /// Its offered size.
        size: u64,
    },
    /// The file ended before its offered size.
    #[error("{name}: the master ended the file at {got} of {size} bytes")]
    Short {
        /// The file.
        name: String,
        /// Bytes received in all.
        got: u64,
        /// Its offered size.
        size: u64,
    },
    /// The whole file arrived but its SHA-256 is not the offered one.
    #[error("{name}: content hash mismatch (expected sha256 {expected}, got {got})")]
    HashMismatch {
        /// The file.
        name: String,
        /// The offered hash.
        expected: Sha256Hex,
        /// The hash of what arrived.
        got: Sha256Hex,
    },
    /// A request for a file the offer does not hold, or past its end.
    #[error("{0}")]
    BadRequest(String),
    /// The other end gave up with this text.
    #[error("the peer says: {0}")]
    Peer(String),
}

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(pub [u8; 32]);

impl TryFrom<String> for Sha256Hex {
    type Error = String;
    fn try_from(s: String) -> Result<Sha256Hex, String> {
        crate::hex::decode32(&s)
            .map(Sha256Hex)
            .ok_or_else(|| "sha256 is not 64 hex digits".to_string())
    }
}

impl From<Sha256Hex> for String {
    fn from(h: Sha256Hex) -> String {
        h.to_string()
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode(&self.0))
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hex({self})")
    }
}

/// A streaming SHA-256 (FIPS 180-4), for the shell to hash the files it
/// offers or already holds.
#[derive(Clone, Debug, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> Sha256Hex {
        Sha256Hex(self.0.finalize().into())
    }
}

/// The master's image, as its grants offer it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOffer {
    /// The bundle's name: the member stores it in `images/NAME/`.
    pub name: String,
    /// Where the master accepts the direct connection (its `--advertise`);
    /// none when it has no address members can dial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// The bundle's files, `image.toml` among them.
    pub files: Vec<OfferedFile>,
}

/// One file of an [`ImageOffer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedFile {
    /// Its name in the bundle directory (no directories).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its content hash.
    pub sha256: Sha256Hex,
}

impl ImageOffer {
    /// Checks names, counts and sizes; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        check_file_name(&self.name).map_err(|e| format!("image `name`: {e}"))?;
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            return Err(format!("image `files` must hold 1 to {MAX_FILES} files"));
        }
        for (i, f) in self.files.iter().enumerate() {
            check_file_name(&f.name).map_err(|e| format!("image `files`: {e}"))?;
            if f.size > MAX_FILE_SIZE {
                return Err(format!("image file {}: over {MAX_FILE_SIZE} bytes", f.name));
            }
            if self.files.iter().take(i).any(|g| g.name == f.name) {
                return Err(format!("image file {} listed twice", f.name));
            }
        }
        if !self.files.iter().any(|f| f.name == crate::vm::BUNDLE_FILE) {
            return Err(format!("image `files` has no {}", crate::vm::BUNDLE_FILE));
        }
        Ok(())
    }

    /// The offered file `name`.
    pub fn file(&self, name: &str) -> Option<&OfferedFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Whether `name` can name a bundle or a file in one: 1 to [`MAX_NAME`]
/// bytes of ASCII letters, digits, `.`, `_`, `-`, not starting with `.`
/// (so no `..`, no hidden files, no directories).
pub fn check_file_name(name: &str) -> Result<(), TransferError> {
    let bad = |reason| {
        Err(TransferError::BadName {
            name: name.chars().take(MAX_NAME).collect(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_NAME {
        return bad("must be 1 to 64 bytes");
    }
    if name.starts_with('.') {
        return bad("must not start with a dot");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// What a member does with a message that arrived for its [`Download`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// Append these bytes to the file's `.part`.
    Append(&'a [u8]),
    /// The file is whole and its hash matched: rename the `.part` into place.
    Complete,
}

/// One file's download: what the member asks for and what it checks.
///
/// The shell first hands it the bytes of the `.part` it already holds
/// ([`Download::resume`]), sends [`Download::request`], then passes every
/// received message to [`Download::handle`]. An error means the `.part` is
/// unusable when it is [`TransferError::HashMismatch`] or
/// [`TransferError::Oversize`] (delete it and start over); after any other
/// error (a broken connection included), the `.part` is good to resume from.
#[derive(Clone, Debug)]
pub struct Download {
    file: OfferedFile,
    have: u64,
    hasher: Hasher,
}

impl Download {
    /// The download of `file`, from nothing.
    pub fn new(file: &OfferedFile) -> Download {
        Download {
            file: file.clone(),
            have: 0,
            hasher: Hasher::default(),
        }
    }

    /// The next bytes of the file already held (in order). An error when
    /// they run past the offered size: the held copy is not this file.
    pub fn resume(&mut self, held: &[u8]) -> Result<(), TransferError> {
        self.take(held).map(|_| ())
    }

    /// Bytes held so far: where the request starts.
    pub fn offset(&self) -> u64 {
        self.have
    }

    /// The file.
    pub fn file(&self) -> &OfferedFile {
        &self.file
    }

    /// Whether all bytes are held and their hash is the offered one (a
    /// cached copy that needs no transfer).
    pub fn verified(&self) -> bool {
        self.have == self.file.size && self.hasher.clone().finish() == self.file.sha256
    }

    /// Appends the request for the rest of the file to `out`.
    pub fn request(&self, out: &mut Vec<u8>) {
        let request = TransferMessage::Request {
            name: &self.file.name,
            offset: self.have,
        };
        wire::encode(&request, out);
    }

    /// A message from the master.
    pub fn handle<'a>(&mut self, message: &'a [u8]) -> Result<Received<'a>, TransferError> {
        match wire::decode(message)? {
            TransferMessage::Chunk(data) => self.take(data),
            TransferMessage::End if self.have < self.file.size => Err(TransferError::Short {
                name: self.file.name.clone(),
                got: self.have,
                size: self.file.size,
            }),
            TransferMessage::End => {
                let got = self.hasher.clone().finish();
                if got == self.file.sha256 {
                    Ok(Received::Complete)
                } else {
                    Err(TransferError::HashMismatch {
                        name: self.file.name.clone(),
                        expected: self.file.sha256,
                        got,
                    })
                }
            }
            TransferMessage::Error(text) => Err(TransferError::Peer(text.to_string())),
            TransferMessage::Request { .. } => Err(TransferError::Malformed(
                "a request sent to the member".to_string(),
            )),
        }
    }

    fn take<'a>(&mut self, data: &'a [u8]) -> Result<Received<'a>, TransferError> {
        let len = data.len() as u64;
        if self.file.size.saturating_sub(self.have) < len {
            return Err(TransferError::Oversize {
                name: self.file.name.clone(),
                size: self.file.size,
            });
        }
        self.have += len;
        self.hasher.update(data);
        Ok(Received::Append(data))
    }
}

/// What the master sends for one request: bytes `offset..size` of the
/// offer's file `index`, as chunks of at most [`wire::MAX_CHUNK`], then an
/// end message ([`wire::encode`] them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Send {
    /// The file's position in the offer.
    pub index: usize,
    /// The first byte to send.
    pub offset: u64,
    /// The file's size (the byte after the last to send).
    pub size: u64,
}

/// The master's side: answers requests for the files of its offer.
#[derive(Clone, Debug)]
pub struct Server {
    offer: ImageOffer,
}

impl Server {
    /// Serves the files of `offer`.
    pub fn new(offer: ImageOffer) -> Server {
        Server { offer }
    }

    /// The offer served.
    pub fn offer(&self) -> &ImageOffer {
        &self.offer
    }

    /// A message from the member: what to send, or why not (send that as an
    /// error message, then close).
    pub fn handle(&self, message: &[u8]) -> Result<Send, TransferError> {
        let TransferMessage::Request { name, offset } = wire::decode(message)? else {
            return Err(TransferError::Malformed(
                "only requests are sent to the master".to_string(),
            ));
        };
        let (index, file) = self
            .offer
            .files
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .ok_or_else(|| TransferError::BadRequest(format!("no file {name} in the offer")))?;
        if offset > file.size {
            return Err(TransferError::BadRequest(format!(
                "{name}: offset {offset} is past its {} bytes",
                file.size
            )));
        }
        Ok(Send {
            index,
            offset,
            size: file.size,
        })
    }
}

#[cfg(test)]
mod tests;
