//! Ethernet frames carried in XMPP message stanzas (spec/xmpp-transport.md §5).
//!
//! One frame is one element `<f xmlns='urn:x-f2f:0'>BASE64</f>` (standard
//! base64 with padding) in a `<message>` without `<body>`, so the server
//! neither stores nor replays it. A stanza carries a batch: the frames queued
//! when the sender gets to send, at most [`MAX_FRAMES_PER_STANZA`] and at most
//! [`MAX_BATCH_BYTES`] of encoded elements, well under Prosody's default
//! 256 KiB stanza limit. The sender never waits for more frames: a lone frame
//! goes at once, batching happens only under load.
//!
//! This module owns the text of one element and the batch sizing; building
//! and parsing the XML around it is the shell's (it has the XML library).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The namespace of the frame element.
pub const NS: &str = "urn:x-f2f:0";
/// The frame element's name.
pub const ELEMENT: &str = "f";
/// Most frames in one stanza.
pub const MAX_FRAMES_PER_STANZA: usize = 32;
/// Most bytes of encoded frame elements in one stanza (64 KiB).
pub const MAX_BATCH_BYTES: usize = 64 * 1024;
/// Largest frame carried (the switch's own limit, 65535).
pub const MAX_FRAME: usize = crate::switch::MAX_FRAME_LIMIT;
/// Bytes an element adds around the base64 text:
/// `<f xmlns='urn:x-f2f:0'>` and `</f>`.
pub const ELEMENT_OVERHEAD: usize = 1 + ELEMENT.len() + 8 + NS.len() + 2 + 2 + ELEMENT.len() + 1;

/// Why a frame element's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The text is longer than the largest frame could encode to.
    #[error("frame element of {0} characters is longer than the largest frame encodes to")]
    TooLong(usize),
    /// The text is not standard base64.
    #[error("frame element is not base64: {0}")]
    NotBase64(String),
    /// The decoded frame is shorter than an Ethernet header.
    #[error("frame of {0} bytes is shorter than an Ethernet header")]
    TooShort(usize),
}

/// The base64 text of `frame`, the content of one `<f>` element.
pub fn encode_frame(frame: &[u8]) -> String {
    STANDARD.encode(frame)
}

/// Length of the base64 text of a frame of `len` bytes.
pub fn encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// The frame in one `<f>` element's text. Whitespace around the text is
/// ignored (a pretty-printing server may add it); the text is checked for
/// length before anything is decoded, so no input allocates more than the
/// largest frame.
pub fn decode_frame(text: &str) -> Result<Vec<u8>, FrameError> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.len() > encoded_len(MAX_FRAME) {
        return Err(FrameError::TooLong(text.len()));
    }
    let frame = STANDARD
        .decode(text)
        .map_err(|e| FrameError::NotBase64(e.to_string()))?;
    if frame.len() < crate::switch::ETH_HEADER_LEN {
        return Err(FrameError::TooShort(frame.len()));
    }
    Ok(frame)
}

/// How many of the queued frames, whose lengths `lens` yields oldest first,
/// go into the next stanza: as many as fit [`MAX_FRAMES_PER_STANZA`] and
/// [`MAX_BATCH_BYTES`], and always at least one (a single frame of any
/// allowed size fits one stanza). Zero only when nothing is queued.
pub fn batch_len(lens: impl IntoIterator<Item = usize>) -> usize {
    let mut bytes = 0usize;
    let mut count = 0usize;
    for len in lens.into_iter().take(MAX_FRAMES_PER_STANZA) {
        bytes = bytes.saturating_add(encoded_len(len) + ELEMENT_OVERHEAD);
        if count > 0 && bytes > MAX_BATCH_BYTES {
            break;
        }
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_the_element_tags() {
        assert_eq!(ELEMENT_OVERHEAD, "<f xmlns='urn:x-f2f:0'></f>".len());
    }

    #[test]
    fn frames_round_trip() {
        for len in [14, 60, 1514, 1518, 9000, MAX_FRAME] {
            let frame: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let text = encode_frame(&frame);
            assert_eq!(text.len(), encoded_len(len));
            assert_eq!(decode_frame(&text).unwrap(), frame);
            assert_eq!(decode_frame(&format!("\n {text}\n")).unwrap(), frame);
        }
    }

    #[test]
    fn bad_text_is_refused_by_reason() {
        assert!(matches!(
            decode_frame("!!!!"),
            Err(FrameError::NotBase64(_))
        ));
        assert_eq!(decode_frame("AAAA"), Err(FrameError::TooShort(3)));
        let long = "A".repeat(encoded_len(MAX_FRAME) + 4);
        assert_eq!(decode_frame(&long), Err(FrameError::TooLong(long.len())));
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        assert_eq!(batch_len([]), 0);
        assert_eq!(batch_len([MAX_FRAME, 60]), 1);
        assert_eq!(batch_len([60; 100]), MAX_FRAMES_PER_STANZA);
        // 1514-byte frames encode to 2020 + 27 bytes: 32 of them fit 64 KiB.
        assert_eq!(batch_len([1514; 40]), 32);
        // 9000-byte frames (12000 + 27 encoded): five fit.
        assert_eq!(batch_len([9000; 40]), 5);
        let lens = [9000usize; 40];
        let n = batch_len(lens);
        let bytes: usize = lens[..n]
            .iter()
            .map(|l| encoded_len(*l) + ELEMENT_OVERHEAD)
            .sum();
        assert!(bytes <= MAX_BATCH_BYTES);
    }
}
