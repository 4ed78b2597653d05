//! Reading a settings file (the configuration, the web config): only a regular file, since a
//! FIFO or a device could block a reload or never end, and at most [`MAX_FILE_BYTES`], since
//! a settings file that large is a mistake (a link to `/dev/zero`, a log written to the wrong
//! place) and would cost memory several times its size.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest settings file read: 1 MiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The text of the settings file at `path`; the error says what is wrong with it.
pub fn read_settings_file(path: &Path) -> Result<String, String> {
    // Opening a FIFO for reading blocks until a writer comes, unless non-blocking; reading a
    // regular file is unaffected.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.file_type().is_file() {
        return Err(
            "not a regular file (a FIFO, device or directory); settings are read from files only"
                .to_owned(),
        );
    }
    let too_large = || format!("larger than the {MAX_FILE_BYTES} bytes a settings file may hold");
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_bound_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "[web]\n").expect("write");
        assert_eq!(read_settings_file(&file), Ok("[web]\n".to_owned()));
        let fifo = dir.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let error = read_settings_file(&fifo).expect_err("a FIFO");
        assert!(error.starts_with("not a regular file"), "{error}");
        let link = dir.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        assert!(
            read_settings_file(&link)
                .expect_err("a device")
                .contains("not a regular file")
        );
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).expect("write");
        let error = read_settings_file(&big).expect_err("too large");
        assert!(error.contains("larger than the 1048576 bytes"), "{error}");
        std::fs::write(&file, [0xff, 0xfe]).expect("write");
        assert!(
            read_settings_file(&file)
                .expect_err("binary")
                .contains("not UTF-8")
        );
        let missing = read_settings_file(&dir.path().join("gone.toml")).expect_err("missing");
        assert!(missing.starts_with("No such file"), "{missing}");
    }
}
