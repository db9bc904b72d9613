//! Keys on disk (spec/cli.md): the network key a link must prove
//! (`f2f-overlay keygen FILE`, `--key FILE`) and the node's own link key
//! (`node.key` in the state directory, created on first use).
//!
//! Both are 32 random bytes written as one line of base64, mode 0600. A key
//! file that group or others may read is refused at load with the reason, as
//! ssh refuses a private key with loose permissions: a key others can read is
//! no longer secret.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use f2f_core::link::crypto::KEY_LEN;

use crate::state;

/// The node key's file name in the state directory.
pub const NODE_KEY_FILE: &str = "node.key";

/// A 32-byte key.
pub type Key = [u8; KEY_LEN];

/// Fresh random key bytes from the OS.
pub fn random_key() -> Key {
    rand::random()
}

/// The key as its file holds it: base64, no newline.
pub fn encode(key: &Key) -> String {
    STANDARD.encode(key)
}

/// `f2f-overlay keygen FILE`: write a new network key; never overwrite.
pub fn keygen(path: &Path) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| match path.exists() {
            true => format!(
                "{}: refusing to overwrite an existing key file",
                path.display()
            ),
            false => format!("cannot create {}", path.display()),
        })?;
    writeln!(f, "{}", encode(&random_key()))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Read a key file, refusing one that group or others can read.
pub fn load(path: &Path) -> Result<Key> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "key file {} has mode {mode:04o}: it must not be readable by group or others; \
             fix it with: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    parse(text.trim()).with_context(|| format!("key file {}", path.display()))
}

/// A key from its base64 text.
pub fn parse(text: &str) -> Result<Key> {
    let bytes = STANDARD
        .decode(text)
        .context("not base64 (make one with `f2f-overlay keygen FILE`)")?;
    Key::try_from(bytes.as_slice()).map_err(|_| {
        anyhow::anyhow!(
            "{} bytes where a key has {KEY_LEN} (make one with `f2f-overlay keygen FILE`)",
            bytes.len()
        )
    })
}

/// The node's link key from `state_dir/node.key`, created (0600, atomically)
/// on first use.
pub fn node_key(state_dir: &Path) -> Result<Key> {
    let path = state_dir.join(NODE_KEY_FILE);
    if path.exists() {
        return load(&path);
    }
    state::ensure_dir(state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))?;
    let key = random_key();
    state::write_atomic(&path, format!("{}\n", encode(&key)).as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "created this node's link key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_load_and_refusals() {
        let dir = std::env::temp_dir().join(format!("f2f-keys-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("net.key");
        keygen(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        let key = load(&path).unwrap();
        assert_eq!(encode(&key), text.trim());
        let again = keygen(&path).unwrap_err();
        assert!(
            format!("{again:#}").contains("refusing to overwrite"),
            "{again:#}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let loose = format!("{:#}", load(&path).unwrap_err());
        assert!(loose.contains("readable by group or others"), "{loose}");
        assert!(parse("c2hvcnQ=").is_err());

        let state = dir.join("state");
        let node = node_key(&state).unwrap();
        assert_eq!(node_key(&state).unwrap(), node, "created once, then read");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
