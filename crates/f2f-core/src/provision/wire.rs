//! The messages of an image transfer. Each one travels as one message of an
//! encrypted session with [`Purpose::Image`](crate::link::Purpose::Image)
//! (the place frames take on a link), so it is already authenticated and
//! bounded by the session's record size when it gets here:
//!
//! ```text
//! request = 1  offset:u64be  name_len:u8  name[name_len]   member → master
//! chunk   = 2  data[1..=MAX_CHUNK]                          master → member
//! end     = 3                                               master → member: the file is complete
//! error   = 4  text (UTF-8, at most MAX_ERROR_TEXT bytes)  either way, then the sender closes
//! ```
//!
//! [`decode`] is the only way in; it refuses unknown types, short or long
//! bodies and names that [`super::check_file_name`] rejects.

use super::{check_file_name, TransferError};

/// Most data bytes in one chunk (well inside a session record).
pub const MAX_CHUNK: usize = 32 * 1024;
/// Longest error text.
pub const MAX_ERROR_TEXT: usize = 512;

/// One transfer message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferMessage<'a> {
    /// Send file `name` from byte `offset` to its end.
    Request {
        /// The file, as the offer names it.
        name: &'a str,
        /// Where to start (the length of the member's `.part`).
        offset: u64,
    },
    /// The next bytes of the requested file.
    Chunk(&'a [u8]),
    /// The requested file is complete.
    End,
    /// The sender gives up, saying why.
    Error(&'a str),
}

const REQUEST: u8 = 1;
const CHUNK: u8 = 2;
const END: u8 = 3;
const ERROR: u8 = 4;

/// Parses one transfer message.
pub fn decode(data: &[u8]) -> Result<TransferMessage<'_>, TransferError> {
    let bad = |why: &str| TransferError::Malformed(why.to_string());
    let (&kind, body) = data.split_first().ok_or_else(|| bad("an empty message"))?;
    match kind {
        REQUEST => {
            let (offset, rest) = body
                .split_first_chunk::<8>()
                .ok_or_else(|| bad("a request without its offset"))?;
            let (&len, name) = rest
                .split_first()
                .ok_or_else(|| bad("a request without a name"))?;
            if name.len() != usize::from(len) {
                return Err(bad("a request whose name length is wrong"));
            }
            let name = core::str::from_utf8(name).map_err(|_| bad("a name that is not UTF-8"))?;
            check_file_name(name).map_err(|e| TransferError::Malformed(e.to_string()))?;
            Ok(TransferMessage::Request {
                name,
                offset: u64::from_be_bytes(*offset),
            })
        }
        CHUNK if body.is_empty() => Err(bad("an empty chunk")),
        CHUNK if body.len() > MAX_CHUNK => Err(bad("a chunk over the size limit")),
        CHUNK => Ok(TransferMessage::Chunk(body)),
        END if body.is_empty() => Ok(TransferMessage::End),
        END => Err(bad("an end message with a body")),
        ERROR if body.len() > MAX_ERROR_TEXT => Err(bad("an error text over the size limit")),
        ERROR => core::str::from_utf8(body)
            .map(TransferMessage::Error)
            .map_err(|_| bad("an error text that is not UTF-8")),
        other => Err(TransferError::Malformed(format!(
            "unknown transfer message type {other}"
        ))),
    }
}

/// Appends the encoding of `message` to `out`. Chunks over [`MAX_CHUNK`]
/// and error texts over [`MAX_ERROR_TEXT`] are cut (the caller keeps within
/// them); names are sent as given (checked by the receiver).
pub fn encode(message: &TransferMessage<'_>, out: &mut Vec<u8>) {
    match message {
        TransferMessage::Request { name, offset } => {
            let name = name.as_bytes().get(..255).unwrap_or(name.as_bytes());
            out.push(REQUEST);
            out.extend_from_slice(&offset.to_be_bytes());
            out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(name);
        }
        TransferMessage::Chunk(data) => {
            out.push(CHUNK);
            out.extend_from_slice(data.get(..MAX_CHUNK).unwrap_or(data));
        }
        TransferMessage::End => out.push(END),
        TransferMessage::Error(text) => {
            let mut cut = text.len().min(MAX_ERROR_TEXT);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(ERROR);
            out.extend_from_slice(text.get(..cut).unwrap_or_default().as_bytes());
        }
    }
}
