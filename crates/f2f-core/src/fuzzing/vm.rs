//! The image bundle's `image.toml` parser.

use std::path::Path;

/// Parses `data` as an `image.toml`: no input panics, and whatever is
/// accepted resolves to files inside the bundle directory and settings that
/// pass the checks the command line's own values go through.
pub fn image_toml(data: &[u8]) {
    use crate::vm::{check_append, check_memory, ImageToml};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ImageToml::parse(text) else {
        return;
    };
    let image = file.resolve(Path::new("/bundle"));
    for path in [
        Some(&image.disk),
        image.kernel.as_ref(),
        image.initrd.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        let inside = path.starts_with("/bundle")
            && !path
                .components()
                .any(|c| c == std::path::Component::ParentDir);
        assert!(inside, "a path outside the bundle was accepted: {image:?}");
    }
    if let Some(a) = &image.append {
        assert_eq!(check_append(a), Ok(()), "accepted a bad append");
        assert!(image.kernel.is_some(), "append without kernel accepted");
    }
    if let Some(m) = image.memory {
        assert_eq!(check_memory(m), Ok(()), "accepted bad memory");
    }
}
