//! Received files: sanitized names, a size cap, owner-only permissions.
//!
//! A file a member sends lands at `<profile>/files/<group ID hex, 16 chars>/<seq>-<name>`, where
//! `seq` is the history entry's sequence number (so re-reading the same message after a crash
//! rewrites the same file instead of adding a copy) and `name` is the sender's basename with
//! every path separator, control character and leading dot removed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::ClientError;
use crate::storage::private_dir;

/// The directory of received files inside a profile directory.
pub const FILES_DIR: &str = "files";
/// The longest sanitized name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The default cap on a received (or sent) file: 8 MiB.
pub const DEFAULT_MAX_FILE_LEN: usize = 8 << 20;

/// A safe file name from a name a peer chose: the last path component, with characters other
/// than letters, digits, space, `.`, `-`, `_` replaced by `_`, leading dots and spaces removed,
/// at most [`MAX_NAME_CHARS`] characters, and `file` if nothing is left.
pub fn sanitize_basename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed: String = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    if trimmed.is_empty() {
        "file".to_owned()
    } else {
        trimmed
    }
}

/// Where the file of history entry `seq` in group `group_id` goes.
pub fn received_path(profile_dir: &Path, group_id: &[u8; 32], seq: u64, basename: &str) -> PathBuf {
    profile_dir
        .join(FILES_DIR)
        .join(hex::encode(&group_id[..8]))
        .join(format!("{seq}-{}", sanitize_basename(basename)))
}

/// Writes `payload` to `path` (replacing it if present), owner-only, refusing more than
/// `max_len` bytes. The parent directories are created owner-only.
pub fn write_private(path: &Path, payload: &[u8], max_len: usize) -> Result<(), ClientError> {
    if payload.len() > max_len {
        return Err(ClientError::InvalidArgument(format!(
            "file of {} bytes is over the cap of {max_len}",
            payload.len()
        )));
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

    #[test]
    fn names_cannot_escape_or_hide() {
        assert_eq!(sanitize_basename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_basename("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitize_basename(".."), "file");
        assert_eq!(sanitize_basename(".bashrc"), "bashrc");
        assert_eq!(sanitize_basename("a\nb\u{202e}c.txt"), "a_b_c.txt");
        assert_eq!(sanitize_basename("photo 1.jpg"), "photo 1.jpg");
        assert_eq!(sanitize_basename(""), "file");
        assert_eq!(sanitize_basename("/"), "file");
        assert_eq!(sanitize_basename(&"x".repeat(500)).len(), MAX_NAME_CHARS);
    }

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
