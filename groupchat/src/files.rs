//! Received files: where they go, under sanitized names, and the size cap. (Writing them,
//! owner-only, is the client's: `chat_client::files`.)
//!
//! A file a member sends lands at `<profile>/files/<group ID hex, 16 chars>/<seq>-<name>`, where
//! `seq` is the history entry's sequence number (so re-reading the same message after a crash
//! rewrites the same file instead of adding a copy) and `name` is the sender's basename with
//! every path separator, control character and leading dot removed.

use std::path::{Path, PathBuf};

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
}
