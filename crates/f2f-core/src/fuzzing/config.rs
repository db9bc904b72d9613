//! The `--config` file parser.

/// Parses `data` as a `--config` file: no input panics; whatever is accepted
/// validates, and writing it back as TOML and parsing that gives the same
/// settings (round trip), so `to_toml` never loses or changes a key.
pub fn config(data: &[u8]) {
    use crate::config::SwitchFile;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = SwitchFile::parse(text) else {
        return;
    };
    assert_eq!(file.validate(), Ok(()), "parse accepted an invalid file");
    let again = file.to_toml();
    match SwitchFile::parse(&again) {
        Ok(back) => assert_eq!(back, file, "TOML round trip changed the settings:\n{again}"),
        Err(error) => panic!("emitted config does not parse: {error}\n{again}"),
    }
}
