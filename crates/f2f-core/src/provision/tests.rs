//! The transfer protocol between a [`Server`] and a [`Download`] in memory.

use super::wire::{decode, encode, TransferMessage, MAX_CHUNK};
use super::*;

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn hash(data: &[u8]) -> Sha256Hex {
    let mut h = Hasher::default();
    h.update(data);
    h.finish()
}

fn offer(files: &[(&str, &[u8])]) -> ImageOffer {
    ImageOffer {
        name: "slave".to_string(),
        endpoint: Some(Endpoint::new("127.0.0.1:7000").unwrap()),
        files: files
            .iter()
            .map(|(name, data)| OfferedFile {
                name: name.to_string(),
                size: data.len() as u64,
                sha256: hash(data),
            })
            .collect(),
    }
}

/// What the server sends for `send`, as the shell encodes it: chunks then an end.
fn serve(send: Send, data: &[u8]) -> Vec<Vec<u8>> {
    let from = usize::try_from(send.offset).unwrap();
    let mut out: Vec<Vec<u8>> = data[from..]
        .chunks(MAX_CHUNK)
        .map(|c| {
            let mut m = Vec::new();
            encode(&TransferMessage::Chunk(c), &mut m);
            m
        })
        .collect();
    let mut end = Vec::new();
    encode(&TransferMessage::End, &mut end);
    out.push(end);
    out
}

/// Runs one request against the server, `deliver` messages of its answer at most; returns
/// what the member appended and how it ended (`None`: cut off).
fn transfer(
    server: &Server,
    dl: &mut Download,
    data: &[u8],
    deliver: usize,
    part: &mut Vec<u8>,
) -> Option<Result<(), TransferError>> {
    let mut req = Vec::new();
    dl.request(&mut req);
    let send = server.handle(&req).unwrap();
    assert_eq!(send.offset, dl.offset());
    for m in serve(send, data).iter().take(deliver) {
        match dl.handle(m) {
            Ok(Received::Append(bytes)) => part.extend_from_slice(bytes),
            Ok(Received::Complete) => return Some(Ok(())),
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

#[test]
fn a_whole_file_arrives_verified() {
    let data = content(100_000);
    let offer = offer(&[("image.toml", b"disk = \"d\"\n"), ("d", &data)]);
    offer.validate().unwrap();
    let server = Server::new(offer.clone());
    let mut dl = Download::new(offer.file("d").unwrap());
    let mut part = Vec::new();
    assert_eq!(
        transfer(&server, &mut dl, &data, usize::MAX, &mut part),
        Some(Ok(()))
    );
    assert_eq!(part, data);
    assert!(dl.verified());
}

/// A transfer cut midway resumes from what the member holds: only the rest is sent, and the
/// hash covers the held bytes too.
#[test]
fn a_broken_transfer_resumes_at_the_part_size() {
    let data = content(5 * MAX_CHUNK + 123);
    let offer = offer(&[("image.toml", b"x"), ("disk", &data)]);
    let server = Server::new(offer.clone());
    let file = offer.file("disk").unwrap();
    let mut part = Vec::new();
    let mut first = Download::new(file);
    assert_eq!(transfer(&server, &mut first, &data, 2, &mut part), None);
    assert_eq!(part.len(), 2 * MAX_CHUNK);

    let mut again = Download::new(file);
    for piece in part.chunks(1000) {
        again.resume(piece).unwrap();
    }
    assert_eq!(again.offset(), 2 * MAX_CHUNK as u64);
    assert!(!again.verified());
    assert_eq!(
        transfer(&server, &mut again, &data, usize::MAX, &mut part),
        Some(Ok(()))
    );
    assert_eq!(part, data);
}

/// A chunk altered on the way (or a corrupt `.part`) shows as a hash mismatch at the end.
#[test]
fn a_corrupt_chunk_fails_the_hash() {
    let data = content(3 * MAX_CHUNK);
    let offer = offer(&[("image.toml", b"x"), ("disk", &data)]);
    let mut dl = Download::new(offer.file("disk").unwrap());
    let mut bad = data.clone();
    bad[MAX_CHUNK + 5] ^= 1;
    let mut part = Vec::new();
    let server = Server::new(offer.clone());
    let got = transfer(&server, &mut dl, &bad, usize::MAX, &mut part);
    assert!(
        matches!(got, Some(Err(TransferError::HashMismatch { ref name, expected, .. }))
            if name == "disk" && expected == hash(&data)),
        "{got:?}"
    );
}

/// An offer whose hash is wrong never completes, even when every byte is the master's.
#[test]
fn a_wrong_offered_hash_is_refused() {
    let data = content(1000);
    let mut offer = offer(&[("image.toml", b"x"), ("disk", &data)]);
    offer.files[1].sha256 = hash(b"something else");
    let mut dl = Download::new(offer.file("disk").unwrap());
    let got = transfer(
        &Server::new(offer.clone()),
        &mut dl,
        &data,
        usize::MAX,
        &mut Vec::new(),
    );
    assert!(matches!(got, Some(Err(TransferError::HashMismatch { .. }))));
    assert!(!dl.verified());
}

/// More bytes than offered, a short file, a held copy longer than the offer: refused.
#[test]
fn oversize_and_short_files_are_refused() {
    let data = content(1000);
    let offer = offer(&[("image.toml", b"x"), ("disk", &data)]);
    let file = offer.file("disk").unwrap();
    let longer = content(1001);
    let got = transfer(
        &Server::new(offer.clone()),
        &mut Download::new(file),
        &longer,
        usize::MAX,
        &mut Vec::new(),
    );
    assert_eq!(
        got,
        Some(Err(TransferError::Oversize {
            name: "disk".to_string(),
            size: 1000
        }))
    );
    let got = transfer(
        &Server::new(offer.clone()),
        &mut Download::new(file),
        &data[..999],
        usize::MAX,
        &mut Vec::new(),
    );
    assert!(matches!(
        got,
        Some(Err(TransferError::Short { got: 999, .. }))
    ));
    let mut held = Download::new(file);
    assert!(held.resume(&longer).is_err());
}

#[test]
fn the_server_serves_only_what_it_offers() {
    let data = content(10);
    let server = Server::new(offer(&[("image.toml", b"x"), ("disk", &data)]));
    let request = |name: &str, offset| {
        let mut m = Vec::new();
        encode(&TransferMessage::Request { name, offset }, &mut m);
        server.handle(&m)
    };
    assert_eq!(
        request("disk", 4),
        Ok(Send {
            index: 1,
            offset: 4,
            size: 10
        })
    );
    assert!(matches!(
        request("disk", 11),
        Err(TransferError::BadRequest(_))
    ));
    assert!(matches!(
        request("other", 0),
        Err(TransferError::BadRequest(_))
    ));
    assert!(matches!(
        request("../etc", 0),
        Err(TransferError::Malformed(_))
    ));
    let mut end = Vec::new();
    encode(&TransferMessage::End, &mut end);
    assert!(server.handle(&end).is_err());
}

#[test]
fn messages_round_trip_and_garbage_is_refused() {
    let name = "base.qcow2";
    for m in [
        TransferMessage::Request {
            name,
            offset: u64::MAX,
        },
        TransferMessage::Chunk(&[1, 2, 3]),
        TransferMessage::End,
        TransferMessage::Error("no such image"),
    ] {
        let mut bytes = Vec::new();
        encode(&m, &mut bytes);
        assert_eq!(decode(&bytes), Ok(m));
    }
    for garbage in [
        &[][..],
        &[2],
        &[3, 0],
        &[9],
        &[1, 0, 0],
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 3, b'a'],
    ] {
        assert!(decode(garbage).is_err(), "{garbage:?}");
    }
    let mut big = vec![2];
    big.resize(MAX_CHUNK + 2, 0);
    assert!(decode(&big).is_err());
}

#[test]
fn offers_are_checked_and_survive_json() {
    let good = offer(&[("image.toml", b"x"), ("base.qcow2", b"y")]);
    let text = serde_json::to_string(&good).unwrap();
    assert!(text.contains(&format!("\"sha256\":\"{}\"", hash(b"x"))));
    let back: ImageOffer = serde_json::from_str(&text).unwrap();
    assert_eq!(back, good);
    let mut bad = good.clone();
    bad.files[1].name = "../x".to_string();
    assert!(bad.validate().unwrap_err().contains("image `files`"));
    let mut bad = good.clone();
    bad.files.remove(0);
    assert!(bad.validate().unwrap_err().contains("image.toml"));
    let mut bad = good.clone();
    bad.files.push(bad.files[1].clone());
    assert!(bad.validate().unwrap_err().contains("twice"));
    let mut bad = good;
    bad.name = ".hidden".to_string();
    assert!(bad.validate().is_err());
    assert!(serde_json::from_str::<Sha256Hex>("\"abc\"").is_err());
}
