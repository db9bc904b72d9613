//! Image provisioning: the transfer messages and both ends' checks.

use crate::provision::wire::{decode, encode};
use crate::provision::{Download, Hasher, ImageOffer, OfferedFile, Received, Server};

/// `data` as one transfer message, then as a sequence of messages
/// (each prefixed by a length byte) fed to a download of a 100-byte file
/// whose first half is already held, and to a server.
///
/// Invariants: an accepted message encodes back to itself; the download
/// never holds more than the offered size and completes only with the
/// offered hash; the server only sends ranges of files it offers.
pub fn image_transfer(data: &[u8]) {
    if let Ok(message) = decode(data) {
        let mut again = Vec::new();
        encode(&message, &mut again);
        assert_eq!(decode(&again), Ok(message), "re-encoding changed a message");
    }
    let content: Vec<u8> = (0..100u8).collect();
    let mut h = Hasher::default();
    h.update(&content);
    let file = OfferedFile {
        name: "disk".to_string(),
        size: 100,
        sha256: h.finish(),
    };
    let offer = ImageOffer {
        name: "image".to_string(),
        endpoint: None,
        files: vec![file.clone()],
    };
    let server = Server::new(offer.clone());
    let mut download = Download::new(&file);
    let held = content.get(..50).unwrap_or_default();
    assert!(download.resume(held).is_ok());
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (message, tail) = tail.split_at(tail.len().min(usize::from(len)));
        rest = tail;
        if let Ok(send) = server.handle(message) {
            let offered = offer.files.get(send.index).map(|f| f.size);
            assert!(offered == Some(send.size) && send.offset <= send.size);
        }
        match download.handle(message) {
            Ok(Received::Append(bytes)) => assert!(!bytes.is_empty()),
            Ok(Received::Complete) => {
                assert!(download.verified(), "completed without the offered hash");
                return;
            }
            Err(_) => return,
        }
        assert!(download.offset() <= file.size, "held more than offered");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replays_pseudo_random_inputs() {
        for seed in 0..300 {
            super::image_transfer(&super::super::test_bytes(seed, 200));
        }
        // The honest rest of the file: chunk 50..100 then the end.
        let mut honest = vec![51, 2];
        honest.extend(50..100u8);
        honest.extend([1, 3]);
        super::image_transfer(&honest);
    }
}
