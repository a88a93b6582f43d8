//! The profile's RocksDB: one database per profile directory, the key space of
//! [`groupchat::keys`], and every change of the chat state in one atomic, synced batch.
//!
//! The directory is made owner-only (0700) and every file in it 0600 when the profile opens and
//! again when it closes; RocksDB creates files in between under that directory, which nobody
//! else can enter.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use groupchat::chat::Changes;
use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

/// The name of the database directory inside a profile directory.
pub const DB_DIR: &str = "state.rocksdb";

/// A stored key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A failure of the profile's database, as RocksDB reported it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DatabaseError(String);

impl DatabaseError {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file or directory of the profile.
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    /// RocksDB itself.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError::Database(DatabaseError::new(e.into_string()))
    }
}

/// A profile's database.
pub struct Storage {
    db: DB,
    path: std::path::PathBuf,
}

/// Makes every file directly in `dir` owner-only.
fn private_files(dir: &Path) -> std::io::Result<()> {
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
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// How many old info logs (`LOG.old.*`) RocksDB keeps besides the current `LOG`.
pub const KEPT_INFO_LOGS: usize = 2;

/// The size at which RocksDB starts a new info log: 256 KiB.
pub const MAX_INFO_LOG_SIZE: usize = 256 << 10;

/// Bounds RocksDB's info log: every command opens the database, and each open starts a new
/// `LOG`, so without a bound a profile would gather one old log per command. Warnings and
/// errors only, in at most [`KEPT_INFO_LOGS`] old files besides the current one, each at most
/// [`MAX_INFO_LOG_SIZE`].
fn bound_info_log(opts: &mut Options) {
    opts.set_log_level(rocksdb::LogLevel::Warn);
    opts.set_keep_log_file_num(KEPT_INFO_LOGS);
    opts.set_max_log_file_size(MAX_INFO_LOG_SIZE);
}

impl Storage {
    /// Opens (or creates) the database of the profile in `profile_dir`.
    pub fn open(profile_dir: &Path) -> Result<Self, StorageError> {
        private_dir(profile_dir)?;
        let path = profile_dir.join(DB_DIR);
        private_dir(&path)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        bound_info_log(&mut opts);
        let db = DB::open(&opts, &path)?;
        private_files(&path)?;
        Ok(Self { db, path })
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(key)?)
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn scan(&self, prefix: &[u8]) -> Result<Vec<Entry>, StorageError> {
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

    /// Rewrites the database's files so that no value deleted or overwritten so far stays in
    /// any of them (the log is flushed into a table, and every table compacted), then removes
    /// the files that held them.
    pub fn purge(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        self.db
            .compact_range_opt(None::<&[u8]>, None::<&[u8]>, &opts);
        Ok(())
    }

    /// Stores `changes` atomically and durably (synced to disk).
    pub fn write(&self, changes: Changes) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        for (k, v) in &changes.puts {
            batch.put(k, v.as_slice());
        }
        for k in &changes.deletes {
            batch.delete(k);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
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
            let mut changes = Changes::default();
            changes
                .puts
                .push((b"k".to_vec(), vec![1u8; 100_000].into()));
            s.write(changes).unwrap();
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
