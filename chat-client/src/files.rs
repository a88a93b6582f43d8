//! Writing received files: owner-only, atomically (a temporary file renamed into place), under
//! a size cap. Where they go is `groupchat::files::received_path`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::storage::private_dir;

/// Writes `payload` to `path` (replacing it if present), owner-only, refusing more than
/// `max_len` bytes. The parent directories are created owner-only.
pub fn write_private(path: &Path, payload: &[u8], max_len: usize) -> std::io::Result<()> {
    if payload.len() > max_len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "file of {} bytes is over the cap of {max_len}",
                payload.len()
            ),
        ));
    }
    if let Some(parent) = path.parent() {
        if let Some(grand) = parent.parent() {
            private_dir(grand)?;
        }
        private_dir(parent)?;
    }
    let tmp = path.with_extension("partial");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    f.write_all(payload)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupchat::files::{received_path, FILES_DIR};

    #[test]
    fn writes_owner_only_and_respects_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = received_path(dir.path(), &[7; 32], 3, "../x.bin");
        assert!(path.starts_with(dir.path().join(FILES_DIR)));
        write_private(&path, b"hello", 10).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        assert!(write_private(&path, &[0; 11], 10).is_err());
        assert_eq!(
            fs::read(&path).unwrap(),
            b"hello",
            "a refused file changes nothing"
        );
    }
}
