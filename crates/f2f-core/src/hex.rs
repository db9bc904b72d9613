//! Lowercase hex text of 32-byte values (network keys, SHA-256 digests) as
//! the room's JSON messages carry them.

/// The 32 bytes written as `text`: exactly 64 hex digits (either case).
pub fn decode32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(core::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// `bytes` as lowercase hex digits.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_non_hex() {
        let bytes: [u8; 32] = core::array::from_fn(|i| i as u8 * 8);
        assert_eq!(super::decode32(&super::encode(&bytes)), Some(bytes));
        assert_eq!(super::decode32(&"AB".repeat(32)), Some([0xab; 32]));
        for bad in [
            "",
            "ab",
            &"g0".repeat(32),
            &"é".repeat(32),
            &"ab".repeat(33),
        ] {
            assert_eq!(super::decode32(bad), None, "{bad}");
        }
    }
}
