//! Reading the ledger's small files by name (manifest, checkpoint log, key
//! file). Whoever can write the ledger directory decides what those names
//! are, and the audit tools read a directory handed to them as evidence: so
//! only a regular file is read, never a FIFO that blocks the reader or a
//! device that never ends, and never more than a bound.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The whole of the regular file at `path`, refused (`InvalidData`) when it
/// is anything else or holds more than `max` bytes. A missing file is
/// `NotFound`, as from `std::fs::read`.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_without_waiting(path)?;
    // Checked on the open file, so nothing can be swapped in after the check.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refused("is not a regular file"));
    }
    if meta.len() > max {
        return Err(refused(&format!("holds more than {max} bytes")));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file still growing stops at the bound all the same.
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(refused(&format!("holds more than {max} bytes")));
    }
    Ok(bytes)
}

/// Opens for reading; a FIFO opened so answers at once rather than waiting
/// for a writer, and is then refused as not a regular file.
fn open_without_waiting(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn refused(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"12345");
        let err = read_regular(&path, 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let missing = read_regular(&dir.path().join("absent"), 5).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices_fifos_and_directories_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for path in [fifo.as_path(), link.as_path(), dir.path()] {
            let err = read_regular(path, u64::MAX).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{}", path.display());
        }
    }
}
