//! The Noise pieces a link uses, resolved through snow without any OS
//! randomness: the shell hands every session a fresh 32-byte seed, and the
//! session's ephemeral keys come from a ChaCha20 stream over that seed.
//!
//! Construction: `Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s` (the Noise Protocol
//! Framework, revision 34, §9 for the `psk3` modifier) with the network key
//! as the pre-shared key and [`PROLOGUE`] binding the protocol version. XX
//! exchanges both static keys, so each side learns the other's node key (shown
//! in `status`); `psk3` mixes the network key in the third message, so the
//! responder is the first to know whether the initiator holds it.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};

/// The Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
/// Bound into the handshake: peers of another protocol version fail it.
pub const PROLOGUE: &[u8] = b"f2f-overlay link v1";
/// Bytes of every key: network keys, node secrets, node public keys.
pub const KEY_LEN: usize = 32;

/// The parsed [`NOISE_PARAMS`].
pub fn params() -> Result<NoiseParams, snow::Error> {
    NOISE_PARAMS.parse()
}

/// A node's public key for its secret (X25519, RFC 7748 §6.1).
pub fn public_key(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut out = [0; KEY_LEN];
    if let Some(mut dh) = DefaultResolver.resolve_dh(&DHChoice::Curve25519) {
        dh.set(secret);
        if let Some(dst) = out.get_mut(..dh.pub_len()) {
            if let Some(src) = dh.pubkey().get(..dst.len()) {
                dst.copy_from_slice(src);
            }
        }
    }
    out
}

/// snow's resolver with our randomness: primitives from snow's defaults, the
/// RNG a ChaCha20 stream over the seed the shell supplied.
#[derive(Debug)]
pub struct SeededResolver {
    seed: [u8; KEY_LEN],
}

impl SeededResolver {
    /// A resolver whose RNG starts from `seed`.
    pub fn new(seed: [u8; KEY_LEN]) -> SeededResolver {
        SeededResolver { seed }
    }
}

struct SeededRandom(ChaCha20Rng);

impl Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SeededRandom(ChaCha20Rng::from_seed(self.seed))))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_is_x25519() {
        // RFC 7748 §6.1, Alice's key pair.
        let secret: [u8; 32] = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let public = public_key(&secret);
        assert_eq!(public[..4], [0x85, 0x20, 0xf0, 0x09]);
        assert_eq!(public[28..], [0xaa, 0x9b, 0x4e, 0x6a]);
        assert!(params().is_ok());
    }
}
