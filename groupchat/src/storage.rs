//! The profile's RocksDB: one database per profile directory, one key space split by prefixes,
//! and every multi-key update in one [`WriteBatch`].
//!
//! Key layout (all values are CBOR records of [`crate::records`], secret ones included):
//!
//! | key | value |
//! |---|---|
//! | `profile` | the profile record |
//! | `seq` | the next sequence number (u64 big endian) |
//! | `group/` + group ID (32) | a group: name, own writer, members with their reader states |
//! | `chan/` + label | a 1:1 channel: own writer, the peer's reader state |
//! | `inv-in/` + group ID | an invitation received, and our answer so far |
//! | `inv-out/` + group ID + label | an invitation sent, and the invitee's request |
//! | `pending/` + seq (u64 BE) | a network operation persisted before it runs |
//! | `hist/g/` + group ID + seq | a group history entry |
//! | `hist/c/` + label + `/` + seq | a channel history entry |
//!
//! The directory is made owner-only (0700) and every file in it 0600 when the profile opens and
//! again when it closes; RocksDB creates files in between under that directory, which nobody
//! else can enter.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

use crate::error::ClientError;

/// The name of the database directory inside a profile directory.
pub const DB_DIR: &str = "state.rocksdb";

/// A stored key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A profile's database.
pub struct Storage {
    db: DB,
    path: std::path::PathBuf,
}

/// Makes every file directly in `dir` owner-only.
fn private_files(dir: &Path) -> Result<(), ClientError> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

impl Drop for Storage {
    /// Makes the files RocksDB created since opening owner-only too (best effort; the
    /// directory is owner-only regardless).
    fn drop(&mut self) {
        let _ = self.db.flush();
        let _ = private_files(&self.path);
    }
}

impl core::fmt::Debug for Storage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Storage(…)")
    }
}

/// Creates `dir` if needed and makes it owner-only.
pub fn private_dir(dir: &Path) -> Result<(), ClientError> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

impl Storage {
    /// Opens (or creates) the database of the profile in `profile_dir`.
    pub fn open(profile_dir: &Path) -> Result<Self, ClientError> {
        private_dir(profile_dir)?;
        let path = profile_dir.join(DB_DIR);
        private_dir(&path)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, &path)?;
        private_files(&path)?;
        Ok(Self { db, path })
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        Ok(self.db.get(key)?)
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn scan(&self, prefix: &[u8]) -> Result<Vec<Entry>, ClientError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(prefix, Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// Applies `batch` atomically and durably (synced to disk).
    pub fn write(&self, batch: WriteBatch) -> Result<(), ClientError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }
}

/// Key builders.
pub mod keys {
    /// The profile record.
    pub const PROFILE: &[u8] = b"profile";
    /// The sequence counter.
    pub const SEQ: &[u8] = b"seq";
    /// Prefix of groups.
    pub const GROUP: &[u8] = b"group/";
    /// Prefix of channels.
    pub const CHANNEL: &[u8] = b"chan/";
    /// Prefix of received invitations.
    pub const INVITATION_IN: &[u8] = b"inv-in/";
    /// Prefix of sent invitations.
    pub const INVITATION_OUT: &[u8] = b"inv-out/";
    /// Prefix of pending operations.
    pub const PENDING: &[u8] = b"pending/";
    /// Prefix of group history.
    pub const GROUP_HISTORY: &[u8] = b"hist/g/";
    /// Prefix of channel history.
    pub const CHANNEL_HISTORY: &[u8] = b"hist/c/";

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// `group/` + ID.
    pub fn group(id: &[u8; 32]) -> Vec<u8> {
        cat(&[GROUP, id])
    }
    /// `chan/` + label.
    pub fn channel(label: &str) -> Vec<u8> {
        cat(&[CHANNEL, label.as_bytes()])
    }
    /// `inv-in/` + group ID.
    pub fn invitation_in(id: &[u8; 32]) -> Vec<u8> {
        cat(&[INVITATION_IN, id])
    }
    /// `inv-out/` + group ID + label.
    pub fn invitation_out(id: &[u8; 32], label: &str) -> Vec<u8> {
        cat(&[INVITATION_OUT, id, label.as_bytes()])
    }
    /// `pending/` + seq.
    pub fn pending(seq: u64) -> Vec<u8> {
        cat(&[PENDING, &seq.to_be_bytes()])
    }
    /// `hist/g/` + group ID (the prefix of one group's history).
    pub fn group_history_prefix(id: &[u8; 32]) -> Vec<u8> {
        cat(&[GROUP_HISTORY, id])
    }
    /// `hist/g/` + group ID + seq.
    pub fn group_history(id: &[u8; 32], seq: u64) -> Vec<u8> {
        cat(&[GROUP_HISTORY, id, &seq.to_be_bytes()])
    }
    /// `hist/c/` + label + `/` (the prefix of one channel's history).
    pub fn channel_history_prefix(label: &str) -> Vec<u8> {
        cat(&[CHANNEL_HISTORY, label.as_bytes(), b"/"])
    }
    /// `hist/c/` + label + `/` + seq.
    pub fn channel_history(label: &str, seq: u64) -> Vec<u8> {
        cat(&[CHANNEL_HISTORY, label.as_bytes(), b"/", &seq.to_be_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_private_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("p");
        {
            let s = Storage::open(&profile).unwrap();
            let mut wb = WriteBatch::default();
            wb.put(b"k", vec![1u8; 100_000]);
            s.write(wb).unwrap();
        }
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&profile), 0o700);
        assert_eq!(mode(&profile.join(DB_DIR)), 0o700);
        let mut files = 0;
        for e in fs::read_dir(profile.join(DB_DIR)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                files += 1;
                assert_eq!(mode(&e.path()), 0o600, "{:?}", e.path());
            }
        }
        assert!(files > 0);
        let s = Storage::open(&profile).unwrap();
        assert_eq!(s.get(b"k").unwrap().unwrap().len(), 100_000);
        assert_eq!(s.scan(b"k").unwrap().len(), 1);
        assert!(s.scan(b"x").unwrap().is_empty());
    }
}
