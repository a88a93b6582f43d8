//! The replicas' storage: one RocksDB instance holding the boxes of every replica.
//!
//! The simulated replicas share one process and one database, so a box's content is stored
//! once, with a mark of which of its two Shard2 replicas hold it: storing a box on both
//! replicas is one key in one write batch, and a replica that was down when a box was written
//! lacks the mark (and has a hint) until it comes back and catches up.
//!
//! Key layout (all in the default column family):
//!
//! | key | value |
//! |---|---|
//! | `b` ‖ box ID (32) | holders (u8: bit 0 the shard's first replica, bit 1 its second) ‖ shard (the two replicas, u8 each) ‖ signature (64) ‖ payload (empty for a tombstone) |
//! | `h` ‖ replica (u8) ‖ box ID (32) | empty: a hint that the replica was down when the box was written |
//! | `c` ‖ copy key (32) | copy status: state (u8) ‖ code (u8) ‖ position (u32 BE) |
//! | `m/replica-keys` | the replicas' identity keys, 32 bytes each |
//! | `m/layout` | [`LAYOUT_VERSION`]: a database of another layout is refused, not misread |
//!
//! Which writes are accepted, and what a copy command writes, is decided by the shared rules of
//! `pigeonhole::store` ([`verdict`] on writes already checked, [`plan_copy`]); this module only reads
//! and commits.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bacap::{BoxId, SealedBox, Signature, WriteCap, SIGNATURE_LEN};
use courier_protocol::wire::ReadResult;
use pigeonhole::padding::PaddedGeometry;
use pigeonhole::store::{
    copy_key, plan_copy, verdict, BoxLookup, CheckedBox, CopyFailure, CopyStatus, ReplyCode,
    Verification, WriteOutcome, WriteVerdict,
};
use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, Env, Options, WriteBatch, WriteOptions, DB,
    DEFAULT_COLUMN_FAMILY_NAME,
};

use crate::background::BacklogWatch;
use crate::config::Config;
use crate::error::Error;
use crate::replicas::{IdentityKey, Replicas};

const META_REPLICA_KEYS: &[u8] = b"m/replica-keys";
const META_LAYOUT: &[u8] = b"m/layout";
/// The version of the key layout above, stored under `m/layout`.
pub const LAYOUT_VERSION: u8 = 3;
const STRIPES: usize = 1024;
/// Bytes before the signature in a stored box: the holders mark and the shard.
const STORED_HEADER_LEN: usize = 3;
/// The length of the key prefix RocksDB hashes to place a key in the memtable. Every key is at
/// least this long.
const KEY_PREFIX_LEN: usize = 8;
// The other keys are 33 or 34 bytes long.
const _: () =
    assert!(META_LAYOUT.len() >= KEY_PREFIX_LEN && META_REPLICA_KEYS.len() >= KEY_PREFIX_LEN);

fn box_key(id: &BoxId) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = b'b';
    k[1..].copy_from_slice(id.as_bytes());
    k
}

fn hint_key(replica: u8, id: &BoxId) -> [u8; 34] {
    let mut k = [0u8; 34];
    k[0] = b'h';
    k[1] = replica;
    k[2..].copy_from_slice(id.as_bytes());
    k
}

/// The holders bit of replica `r` in a box of shard `shard`, if `r` is one of its replicas.
fn holder_bit(shard: [u8; 2], r: u8) -> Option<u8> {
    shard.iter().position(|&s| s == r).map(|i| 1 << i)
}

/// A stored box's value, parsed.
struct Stored<'v> {
    /// Which replicas of the shard hold the box (see [`holder_bit`]).
    holders: u8,
    /// The box's two Shard2 replicas, stored so that a read need not hash the box ID again.
    shard: [u8; 2],
    /// The box as it travels: signature ‖ payload.
    sealed: &'v [u8],
}

impl<'v> Stored<'v> {
    /// Parses the value stored under `id`; a value too short to be a box, or a shard that is
    /// not two distinct replicas of `replicas`, is corrupt: an internal error, logged.
    fn parse(id: &BoxId, value: &'v [u8], replicas: usize) -> Result<Self, ReplyCode> {
        let parsed = (value.len() >= STORED_HEADER_LEN + SIGNATURE_LEN).then(|| Stored {
            holders: value[0],
            shard: [value[1], value[2]],
            sealed: &value[STORED_HEADER_LEN..],
        });
        match parsed {
            Some(p)
                if p.shard[0] != p.shard[1]
                    && p.shard.iter().all(|&r| usize::from(r) < replicas) =>
            {
                Ok(p)
            }
            _ => {
                tracing::error!(?id, len = value.len(), "corrupt stored box");
                Err(ReplyCode::InternalError)
            }
        }
    }

    /// The box as it travels, if replica `r` holds it.
    fn held_by(&self, r: u8) -> Option<&'v [u8]> {
        holder_bit(self.shard, r)
            .is_some_and(|bit| self.holders & bit != 0)
            .then_some(self.sealed)
    }
}

fn copy_status_key(key: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = b'c';
    k[1..].copy_from_slice(key);
    k
}

fn encode_box(holders: u8, shard: [u8; 2], b: &SealedBox) -> Vec<u8> {
    let mut v = Vec::with_capacity(STORED_HEADER_LEN + SIGNATURE_LEN + b.payload.len());
    v.push(holders);
    v.extend_from_slice(&shard);
    v.extend_from_slice(b.signature.as_bytes());
    v.extend_from_slice(&b.payload);
    v
}

/// A box from its stored form, signature ‖ payload (at least [`SIGNATURE_LEN`] bytes).
fn decode_box(id: &BoxId, stored: &[u8]) -> Result<SealedBox, ReplyCode> {
    Ok(SealedBox {
        box_id: *id,
        signature: Signature::from_slice(&stored[..SIGNATURE_LEN])
            .map_err(|_| ReplyCode::InternalError)?,
        payload: stored[SIGNATURE_LEN..].to_vec(),
    })
}

fn encode_status(status: CopyStatus) -> [u8; 6] {
    let (state, code, position) = match status {
        CopyStatus::Succeeded => (0, 0, 0),
        CopyStatus::InProgress => (1, 0, 0),
        CopyStatus::Failed(f) => (2, f.code.as_u8(), f.position),
    };
    let p = position.to_be_bytes();
    [state, code, p[0], p[1], p[2], p[3]]
}

fn decode_status(v: &[u8]) -> Result<CopyStatus, ReplyCode> {
    let v: [u8; 6] = v.try_into().map_err(|_| ReplyCode::InternalError)?;
    let position = u32::from_be_bytes([v[2], v[3], v[4], v[5]]);
    match v[0] {
        0 => Ok(CopyStatus::Succeeded),
        1 => Ok(CopyStatus::InProgress),
        2 => Ok(CopyStatus::Failed(CopyFailure {
            code: ReplyCode::from_u8(v[1]).ok_or(ReplyCode::InternalError)?,
            position,
        })),
        _ => Err(ReplyCode::InternalError),
    }
}

fn db_failure(e: rocksdb::Error) -> ReplyCode {
    tracing::error!(error = %e, "RocksDB failure");
    ReplyCode::DatabaseFailure
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data is `()` or a set updated by single calls: a panic elsewhere cannot leave
    // it inconsistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The boxes of every replica, the copy-command statuses, and the locks that make each write
/// and each copy atomic.
pub struct Storage {
    /// Declared (so dropped) first: its thread lets go of the database before `db` closes it.
    _backlog: BacklogWatch,
    db: Arc<DB>,
    replicas: Replicas,
    write_opts: WriteOptions,
    /// `write_opts`, but failing (RocksDB's "incomplete") where RocksDB would hold a write back.
    write_opts_no_wait: WriteOptions,
    geometry: PaddedGeometry,
    verification: Verification,
    /// Serializes check-and-write of the same box (striped by box ID).
    stripes: Box<[Mutex<()>]>,
    /// Shared by writes, exclusive for copy commands and replica state changes, so a copy is
    /// checked and committed with no write in between.
    exclusive: RwLock<()>,
    copies_in_progress: Mutex<HashSet<[u8; 32]>>,
    path: PathBuf,
    /// The RocksDB environment the database was opened with, kept for as long as it is open.
    _env: Env,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("path", &self.path)
            .field("replicas", &self.replicas.len())
            .finish_non_exhaustive()
    }
}

/// Removes a copy command from the in-progress set when its processing ends, however it ends.
struct InProgress<'a> {
    set: &'a Mutex<HashSet<[u8; 32]>>,
    key: [u8; 32],
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        lock(self.set).remove(&self.key);
    }
}

struct Lookup<'a>(&'a Storage);

impl BoxLookup for Lookup<'_> {
    fn get(&self, id: &BoxId) -> Result<Option<SealedBox>, ReplyCode> {
        self.0.get_box(id, self.0.replicas.shard(id))
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|error| Error::DataDir {
        path: dir.to_path_buf(),
        error,
    })
}

/// Whether a write may wait while RocksDB holds writes back: it slows them down, then stops them,
/// while its flushes or compactions are behind (`crate::background`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Wait for as long as RocksDB makes it.
    Yes,
    /// Decline the write instead, writing nothing, so that the caller can wait elsewhere (the
    /// verifier's leader runs on a request thread, which a stopped write would hold).
    No,
}

/// The size of a memtable, in bytes (RocksDB's write buffer).
const WRITE_BUFFER_SIZE: usize = 128 << 20;

/// The rate at which flushes and compactions may write, in bytes per second, together: a flush
/// spread over about 4 s instead of a burst that takes a core from the requests. With payloads
/// in blob files ([`MIN_BLOB_SIZE`]) compactions write little, so flushes still finish well
/// inside the 7.5 s that 10,000 writes/s take to fill the next memtable (docs/perf-history.md).
const BACKGROUND_WRITE_RATE: i64 = 32 << 20;

/// Values of at least this many bytes (every box with a payload of 189 bytes or more; not
/// tombstones, copy statuses or the metadata) are kept in blob files, written once by the flush,
/// while the sorted files hold their keys. Box IDs are uniformly random, so every compaction
/// overlaps the whole next level, and payloads in the sorted files were rewritten by compaction
/// after compaction, faster than [`BACKGROUND_WRITE_RATE`] allows.
///
/// Blob garbage collection stays off: it brings those rewrites back. A blob file is deleted once
/// none of its blobs is live, so a payload that a tombstone replaced stays on disk, unreadable
/// through the courier, until the rest of its file is gone (courier-sim/README.md, "Durability
/// and sync policy").
const MIN_BLOB_SIZE: u64 = 256;

/// How many old info logs (`LOG.old.*`) RocksDB keeps in the data directory besides `LOG`.
pub const KEPT_INFO_LOGS: usize = 4;

/// The size at which RocksDB starts a new info log: 16 MiB. With [`KEPT_INFO_LOGS`], the info
/// logs of a data directory never exceed 80 MiB, however long the courier runs or however often
/// it restarts.
pub const MAX_INFO_LOG_SIZE: usize = 16 << 20;

impl Storage {
    /// Opens (or creates) the storage `config` describes: RocksDB under `--data-dir`, or in
    /// memory for `--ephemeral`. The replicas' identity keys are derived from `--seed` on first
    /// start and persisted; a later start must ask for the same number of replicas.
    pub fn open(config: &Config) -> Result<Self, Error> {
        // Before this database allocates anything: see `crate::heap`.
        if !crate::heap::keep_heap_memory() {
            tracing::debug!("glibc malloc's parameters not set (another C library?)");
        }
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_background_jobs(2);
        // 128 MiB memtables: about 75,000 full boxes, a switch every 7.5 s at 10,000 writes/s.
        // Smaller than 256 MiB so that the flush's sort of the memtable comes in shorter bursts
        // and the hash table's lookups miss the cache less; 64 MiB was worse again.
        opts.set_write_buffer_size(WRITE_BUFFER_SIZE);
        opts.set_max_write_buffer_number(4);
        opts.set_enable_pipelined_write(true);
        // The memtable is a hash table of short lists (keyed by the first KEY_PREFIX_LEN bytes of a
        // key, effectively the box ID), not the default skip list: every request looks boxes up by
        // ID, and a skip list misses the cache at each level of every lookup and insert. Only
        // flushes (which sort it in the background) and the hint replay (`entries_from`, which
        // asks for total order) need the keys in order. Inserts into this memtable cannot run
        // concurrently; the pipelined write path inserts one group at a time.
        opts.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(KEY_PREFIX_LEN));
        opts.set_allow_concurrent_memtable_write(false);
        // 2 MiB of buckets per memtable, allocated when it is created: about 3.5 buckets per
        // box that fits the write buffer.
        opts.set_memtable_factory(rocksdb::MemtableFactory::HashLinkList {
            bucket_count: 1 << 18,
        });
        // Most lookups before a write miss (a new box): a memtable bloom filter answers those
        // without touching the memtable itself. Its size is a fraction of the write buffer's bytes,
        // and RocksDB allocates and zeroes it in the write path when it switches memtables, so it
        // is kept small: 512 KiB, about 55 bits per key for 1.7 KB boxes (75,000 of them fill the
        // buffer).
        opts.set_memtable_whole_key_filtering(true);
        opts.set_memtable_prefix_bloom_ratio(0.004);
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);

        // Flushes and compactions write their files out a megabyte at a time, and run below the
        // request threads (`crate::background`, once the database is open), so that on a
        // two-core machine they take what requests leave.
        opts.set_bytes_per_sync(1 << 20);
        // A flush writes a whole memtable at once; unthrottled, it takes CPU from the requests in
        // a burst (BACKGROUND_WRITE_RATE). The WAL is not throttled: acknowledged writes are as
        // durable as without the limit.
        //
        // Flushed files go through the page cache, not direct I/O, so that the first reads after
        // a flush find the new file there instead of waiting on the disk block by block.
        opts.set_ratelimiter(BACKGROUND_WRITE_RATE, 100_000, 10);
        opts.set_enable_blob_files(true);
        opts.set_min_blob_size(MIN_BLOB_SIZE);
        opts.set_enable_blob_gc(false);
        // After a flush, the request thread that lets go of the old memtable would otherwise
        // free it (its whole arena) and delete the old WAL itself; this hands both to a
        // background job.
        opts.set_avoid_unnecessary_blocking_io(true);
        // RocksDB's info log (flushes, compactions, statistics) rolls over at a size, and at
        // every start; only a few old ones are kept.
        opts.set_keep_log_file_num(KEPT_INFO_LOGS);
        opts.set_max_log_file_size(MAX_INFO_LOG_SIZE);
        let (path, mut env) = if config.ephemeral {
            let env = Env::mem_env()
                .map_err(Error::database("creating RocksDB's in-memory environment"))?;
            opts.set_env(&env);
            let mut suffix = [0u8; 8];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut suffix);
            let path = PathBuf::from(format!("/courier-sim-ephemeral-{}", hex::encode(suffix)));
            (path, env)
        } else {
            let dir = config.data_dir.clone().ok_or(Error::NoDataDir)?;
            create_private_dir(&dir)?;
            let env =
                Env::new().map_err(Error::database("opening RocksDB's default environment"))?;
            opts.set_env(&env);
            (dir, env)
        };
        // The default column family, opened by name so that batch reads can pin its values.
        let default = ColumnFamilyDescriptor::new(DEFAULT_COLUMN_FAMILY_NAME, opts.clone());
        let db = DB::open_cf_descriptors(&opts, &path, [default]).map_err(|e| Error::Open {
            path: path.clone(),
            message: e.into_string(),
        })?;
        crate::background::lower_priority(&mut env);

        let meta = Error::database("reading the replicas' keys");
        let replicas = match db.get(META_REPLICA_KEYS).map_err(meta)? {
            Some(v) => {
                let layout = db
                    .get(META_LAYOUT)
                    .map_err(Error::database("reading the storage layout"))?;
                if layout.as_deref() != Some(&[LAYOUT_VERSION][..]) {
                    return Err(Error::Layout {
                        path,
                        found: layout.map_or_else(|| "1".to_string(), hex::encode),
                        expected: LAYOUT_VERSION,
                    });
                }
                if v.len() % 32 != 0 || v.len() / 32 != usize::from(config.replicas) {
                    return Err(Error::ReplicaCount {
                        path,
                        stored: v.len() / 32,
                        asked: config.replicas,
                    });
                }
                let keys: Vec<IdentityKey> = v
                    .chunks_exact(32)
                    .map(|c| c.try_into().expect("32-byte chunks"))
                    .collect();
                Replicas::from_keys(keys)
            }
            None => {
                let replicas = Replicas::derive(config.replicas, config.seed);
                let mut sync = WriteOptions::default();
                sync.set_sync(true);
                let mut batch = WriteBatch::default();
                batch.put(META_REPLICA_KEYS, replicas.keys().concat());
                batch.put(META_LAYOUT, [LAYOUT_VERSION]);
                db.write_opt(batch, &sync)
                    .map_err(Error::database("storing the replicas' keys"))?;
                replicas
            }
        };
        for &r in &config.replicas_down {
            if usize::from(r) >= replicas.len() {
                return Err(Error::NoSuchReplica {
                    replica: r,
                    replicas: replicas.len(),
                });
            }
            replicas.set_up(r, false);
        }

        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(config.sync);
        let mut write_opts_no_wait = WriteOptions::default();
        write_opts_no_wait.set_sync(config.sync);
        write_opts_no_wait.set_no_slowdown(true);
        let db = Arc::new(db);
        Ok(Self {
            _backlog: BacklogWatch::start(db.clone()).map_err(|error| Error::Thread {
                what: "the thread that watches RocksDB's backlog",
                error,
            })?,
            db,
            replicas,
            write_opts,
            write_opts_no_wait,
            geometry: config.geometry(),
            verification: config.verify.into(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            exclusive: RwLock::new(()),
            copies_in_progress: Mutex::new(HashSet::new()),
            path,
            _env: env,
        })
    }

    /// The replicas.
    pub fn replicas(&self) -> &Replicas {
        &self.replicas
    }

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.exclusive.read().unwrap_or_else(|p| p.into_inner())
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.exclusive.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The stripes of `ids`, locked each once and in ascending order, so that writers holding
    /// several cannot deadlock.
    fn stripes<'a>(&self, ids: impl Iterator<Item = &'a BoxId>) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = ids
            .map(|id| {
                let b = id.as_bytes();
                usize::from(u16::from_le_bytes([b[0], b[1]])) % STRIPES
            })
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes
            .into_iter()
            .map(|i| lock(&self.stripes[i]))
            .collect()
    }

    /// What a read of `id` gets from the first replica of its shard that is up, given the
    /// `value` stored under it: the box as it travels (signature ‖ payload), or `None` if nothing
    /// is stored or that replica does not hold it. A stored box names its shard; `shard`
    /// computes it (four hashes) only when nothing is stored. Fails if both replicas are down.
    fn served<'v>(
        &self,
        id: &BoxId,
        value: Option<&'v [u8]>,
        shard: impl FnOnce() -> [u8; 2],
    ) -> Result<Option<&'v [u8]>, ReplyCode> {
        let serving = |shard| {
            self.replicas
                .serving_of(shard)
                .ok_or(ReplyCode::DatabaseFailure)
        };
        match value {
            None => serving(shard()).map(|_| None),
            Some(value) => {
                let stored = Stored::parse(id, value, self.replicas.len())?;
                Ok(stored.held_by(serving(stored.shard)?))
            }
        }
    }

    /// The box (or tombstone) stored under `id`, as the first replica of its shard that is up
    /// holds it.
    fn get_box(&self, id: &BoxId, shard: [u8; 2]) -> Result<Option<SealedBox>, ReplyCode> {
        let value = self.db.get_pinned(box_key(id)).map_err(db_failure)?;
        self.served(id, value.as_deref(), || shard)?
            .map(|stored| decode_box(id, stored))
            .transpose()
    }

    /// Adds `b` to `batch`, held by the replicas of `shard` that are up, with a hint for each
    /// one down, replayed when it comes back.
    fn put_box(&self, batch: &mut WriteBatch, b: &SealedBox, shard: [u8; 2]) {
        let mut holders = 0;
        for (i, r) in shard.into_iter().enumerate() {
            if self.replicas.is_up(r) {
                holders |= 1 << i;
            } else {
                batch.put(hint_key(r, &b.box_id), b"");
            }
        }
        batch.put(box_key(&b.box_id), encode_box(holders, shard, b));
    }

    /// Every entry from key `start` on, in key order. Iterators need total order asked for:
    /// with the key prefix RocksDB hashes (`KEY_PREFIX_LEN`), they would otherwise stop at the
    /// end of the first prefix.
    fn entries_from(&self, start: &[u8]) -> rocksdb::DBIteratorWithThreadMode<'_, DB> {
        let mut total_order = rocksdb::ReadOptions::default();
        total_order.set_total_order_seek(true);
        self.db.iterator_opt(
            rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward),
            total_order,
        )
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), ReplyCode> {
        self.db
            .write_opt(batch, &self.write_opts)
            .map_err(db_failure)
    }

    /// Writes a checked box under the storage rules. Blocking: writes RocksDB.
    pub fn write(&self, b: &CheckedBox) -> Result<WriteOutcome, ReplyCode> {
        self.write_many(std::slice::from_ref(b))
            .pop()
            .unwrap_or(Err(ReplyCode::InternalError))
    }

    /// Writes checked boxes under the storage rules, one answer each, as if one after another
    /// (a box written twice meets its first write), and commits every box stored in one RocksDB
    /// write: one WAL append for the lot. If that commit fails, so does every write whose
    /// answer depended on it. Blocking: reads and writes RocksDB, and waits for as long as
    /// RocksDB holds writes back (see [`Wait`]).
    pub fn write_many(&self, boxes: &[CheckedBox]) -> Vec<Result<WriteOutcome, ReplyCode>> {
        self.write_many_or_decline(boxes, Wait::Yes)
            .unwrap_or_else(|| vec![Err(ReplyCode::InternalError); boxes.len()])
    }

    /// [`Storage::write_many`]; with [`Wait::No`], `None` instead if RocksDB would hold the
    /// commit back: then nothing of it is written.
    pub fn write_many_or_decline(
        &self,
        boxes: &[CheckedBox],
        wait: Wait,
    ) -> Option<Vec<Result<WriteOutcome, ReplyCode>>> {
        let _shared = self.shared();
        let _stripes = self.stripes(boxes.iter().map(|b| &b.box_id));
        let mut batch = WriteBatch::default();
        // The boxes this batch stores, by ID: what a later write of the same ID meets.
        let mut pending: HashMap<BoxId, &SealedBox> = HashMap::new();
        // For each answer, whether it holds only if the batch is committed.
        let mut uncommitted = vec![false; boxes.len()];
        let mut answers: Vec<Result<WriteOutcome, ReplyCode>> = boxes
            .iter()
            .zip(&mut uncommitted)
            .map(|(b, uncommitted)| {
                let shard = self.replicas.shard(&b.box_id);
                let stored;
                let existing = match pending.get(&b.box_id) {
                    Some(&earlier) => {
                        *uncommitted = true;
                        Some(earlier)
                    }
                    None => {
                        stored = self.get_box(&b.box_id, shard)?;
                        stored.as_ref()
                    }
                };
                match verdict(existing, b) {
                    WriteVerdict::Store => {
                        self.put_box(&mut batch, b, shard);
                        pending.insert(b.box_id, b);
                        *uncommitted = true;
                        Ok(WriteOutcome::Stored)
                    }
                    WriteVerdict::Unchanged(outcome) => Ok(outcome),
                }
            })
            .collect();
        if !pending.is_empty() {
            let opts = match wait {
                Wait::Yes => &self.write_opts,
                Wait::No => &self.write_opts_no_wait,
            };
            let committed = match self.db.write_opt(batch, opts) {
                Err(e) if wait == Wait::No && e.kind() == rocksdb::ErrorKind::Incomplete => {
                    return None;
                }
                committed => committed.map_err(db_failure),
            };
            if let Err(code) = committed {
                for (answer, _) in answers.iter_mut().zip(uncommitted).filter(|(_, u)| *u) {
                    *answer = Err(code);
                }
            }
        }
        Some(answers)
    }

    /// Reads many boxes, one result per ID in order. Fails as a whole (transiently) if both
    /// replicas of some box are down.
    pub fn read_many(&self, ids: &[BoxId]) -> Result<Vec<ReadResult>, ReplyCode> {
        let keys: Vec<[u8; 33]> = ids.iter().map(box_key).collect();
        let default = self
            .db
            .cf_handle(DEFAULT_COLUMN_FAMILY_NAME)
            .ok_or(ReplyCode::InternalError)?;
        // Pinned values: each box is copied once, into its reply, not first into a Vec.
        self.db
            .batched_multi_get_cf(default, &keys, false)
            .into_iter()
            .zip(ids)
            .map(|(value, id)| {
                let value = value.map_err(db_failure)?;
                Ok(
                    match self.served(id, value.as_deref(), || self.replicas.shard(id))? {
                        None => ReadResult::not_found(),
                        Some(stored) => {
                            ReadResult::stored(&stored[..SIGNATURE_LEN], &stored[SIGNATURE_LEN..])
                        }
                    },
                )
            })
            .collect()
    }

    /// The status of the copy command with this key, if it was ever processed.
    pub fn copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, ReplyCode> {
        if lock(&self.copies_in_progress).contains(key) {
            return Ok(Some(CopyStatus::InProgress));
        }
        self.stored_copy_status(key)
    }

    fn stored_copy_status(&self, key: &[u8; 32]) -> Result<Option<CopyStatus>, ReplyCode> {
        match self
            .db
            .get_pinned(copy_status_key(key))
            .map_err(db_failure)?
        {
            Some(v) => decode_status(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Marks the copy command `key` in progress, or `None` if it already is.
    fn begin_copy(&self, key: [u8; 32]) -> Option<InProgress<'_>> {
        if !lock(&self.copies_in_progress).insert(key) {
            return None;
        }
        Some(InProgress {
            set: &self.copies_in_progress,
            key,
        })
    }

    /// Runs the copy command of the temporary stream `temp` at most once: reads and checks it
    /// all under the shared rules, then commits every write, the temporary stream's tombstones
    /// and the command's status in one write batch; on failure only the status is written.
    /// Repeating a command returns its status. Blocking, possibly for long: run it off the
    /// async executor.
    pub fn copy(&self, temp: &WriteCap) -> Result<CopyStatus, ReplyCode> {
        let key = copy_key(temp);
        if let Some(status) = self.stored_copy_status(&key)? {
            return Ok(status);
        }
        let Some(_in_progress) = self.begin_copy(key) else {
            return Ok(CopyStatus::InProgress);
        };
        let _exclusive = self.exclusive();
        if let Some(status) = self.stored_copy_status(&key)? {
            return Ok(status);
        }
        let mut batch = WriteBatch::default();
        let status = match plan_copy(&Lookup(self), temp, self.geometry, self.verification) {
            Ok(boxes) => {
                for b in &boxes {
                    self.put_box(&mut batch, b, self.replicas.shard(&b.box_id));
                }
                CopyStatus::Succeeded
            }
            // A transient failure is not the command's outcome: nothing is recorded, and the
            // command runs again when it is resubmitted.
            Err(f) if f.code == ReplyCode::DatabaseFailure => return Err(f.code),
            Err(f) => CopyStatus::Failed(f),
        };
        batch.put(copy_status_key(&key), encode_status(status));
        self.commit(batch)?;
        Ok(status)
    }

    /// Takes replica `r` down (it stops serving and storing) or brings it back, first replaying
    /// every box written while it was down. Returns how many boxes were replayed.
    pub fn set_replica_up(&self, r: u8, up: bool) -> Result<usize, ReplyCode> {
        if usize::from(r) >= self.replicas.len() {
            return Err(ReplyCode::InvalidPayload);
        }
        let _exclusive = self.exclusive();
        if !up {
            self.replicas.set_up(r, false);
            return Ok(0);
        }
        if self.replicas.is_up(r) {
            return Ok(0);
        }
        let prefix = [b'h', r];
        let mut batch = WriteBatch::default();
        let mut replayed = 0;
        for item in self.entries_from(&prefix) {
            let (key, _) = item.map_err(db_failure)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let id = BoxId::from_slice(&key[2..]).map_err(|_| ReplyCode::InternalError)?;
            // The peer holds every box written while `r` was down (a write needs one replica
            // up); a simulated outage loses no data, so the peer's copy is taken even if the
            // peer is down now.
            if let Some(mut value) = self.db.get(box_key(&id)).map_err(db_failure)? {
                let stored = Stored::parse(&id, &value, self.replicas.len())?;
                let bit = holder_bit(stored.shard, r).ok_or(ReplyCode::InternalError)?;
                if value[0] & bit == 0 {
                    value[0] |= bit;
                    batch.put(box_key(&id), value);
                    replayed += 1;
                }
            }
            batch.delete(key);
        }
        self.commit(batch)?;
        self.replicas.set_up(r, true);
        Ok(replayed)
    }

    /// Whether replica `r` holds box `id` (for tests and diagnostics).
    pub fn replica_holds(&self, r: u8, id: &BoxId) -> Result<bool, ReplyCode> {
        let value = self.db.get_pinned(box_key(id)).map_err(db_failure)?;
        match value.as_deref() {
            None => Ok(false),
            Some(value) => Ok(Stored::parse(id, value, self.replicas.len())?
                .held_by(r)
                .is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_protocol::wire::ReadResult;
    use pigeonhole_suite::{fresh_boxes, seal, CTX};

    /// Opening a database starts a watch that moves RocksDB's process-wide threads: the tests
    /// that check their scheduling take this exclusively, every other test shares it.
    fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
        crate::background::SCHEDULING_TESTS
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// An in-memory storage (the calling test holds [`shared`]).
    fn storage() -> Storage {
        Storage::open(&Config::ephemeral()).unwrap()
    }

    /// A valid box, checked as the verifier checks writes.
    fn checked(b: &SealedBox) -> CheckedBox {
        pigeonhole::store::check_box(b.clone(), Config::ephemeral().geometry()).unwrap()
    }

    /// Runs `check` on a storage in memory (`--ephemeral`), then on one on disk.
    fn in_memory_and_on_disk(check: impl Fn(&Storage)) {
        let _shared = shared();
        each_storage(check);
    }

    fn each_storage(check: impl Fn(&Storage)) {
        check(&Storage::open(&Config::ephemeral()).unwrap());
        let dir = tempfile::tempdir().unwrap();
        check(&Storage::open(&Config::persistent(dir.path().join("db"))).unwrap());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn rocksdb_background_threads_are_idle_class_once_open() {
        use crate::background::linux::{policy, threads_named};
        let _serial = crate::background::SCHEDULING_TESTS
            .write()
            .unwrap_or_else(|e| e.into_inner());
        each_storage(|_storage| {
            let tids = threads_named("rocksdb:").unwrap();
            assert!(!tids.is_empty(), "RocksDB has started its threads");
            for tid in tids {
                assert_eq!(policy(tid).unwrap(), libc::SCHED_IDLE, "thread {tid}");
            }
        });
        // The parser reads the policy of an ordinary thread too: this one.
        let me = threads_named("").unwrap();
        // (A thread may end between the listing and the read: skip it.)
        assert!(
            me.iter()
                .any(|&t| policy(t).ok() == Some(libc::SCHED_OTHER)),
            "SCHED_OTHER"
        );
    }

    #[test]
    fn a_box_lives_on_its_two_shard_replicas() {
        let _shared = shared();
        let s = storage();
        let (_, boxes) = fresh_boxes(20, 10);
        for b in &boxes {
            assert_eq!(s.write(&checked(b)), Ok(WriteOutcome::Stored));
            let shard = s.replicas().shard(&b.box_id);
            for r in 0..4 {
                assert_eq!(s.replica_holds(r, &b.box_id), Ok(shard.contains(&r)));
            }
        }
    }

    #[test]
    fn reads_survive_one_replica_down_and_a_returning_replica_catches_up() {
        let _shared = shared();
        let s = storage();
        let (_, boxes) = fresh_boxes(2, 10);
        let [a, b] = s.replicas().shard(&boxes[0].box_id);
        assert_eq!(s.write(&checked(&boxes[0])), Ok(WriteOutcome::Stored));
        s.set_replica_up(a, false).unwrap();
        let found = ReadResult::stored(boxes[0].signature.as_bytes(), &boxes[0].payload);
        assert_eq!(s.read_many(&[boxes[0].box_id]), Ok(vec![found]));

        // Written while `a` is down, to a box `a` is a replica of: only the other replica holds
        // it until `a` returns.
        let late = std::iter::repeat_with(|| fresh_boxes(1, 10).1.remove(0))
            .find(|x| s.replicas().shard(&x.box_id).contains(&a))
            .unwrap();
        let shard = s.replicas().shard(&late.box_id);
        assert_eq!(s.write(&checked(&late)), Ok(WriteOutcome::Stored));
        assert_eq!(s.replica_holds(a, &late.box_id), Ok(false));
        let other = shard.into_iter().find(|&r| r != a).unwrap();
        assert_eq!(s.replica_holds(other, &late.box_id), Ok(true));
        s.set_replica_up(b, false).unwrap();
        assert_eq!(
            s.read_many(&[boxes[0].box_id]),
            Err(ReplyCode::DatabaseFailure),
            "both replicas down"
        );
        assert_eq!(
            s.write(&checked(&boxes[1])).is_ok(),
            s.replicas().serving(&boxes[1].box_id).is_some()
        );
        s.set_replica_up(b, true).unwrap();
        s.set_replica_up(a, true).unwrap();
        for r in shard {
            assert_eq!(s.replica_holds(r, &late.box_id), Ok(true), "replica {r}");
        }
    }

    #[test]
    fn a_box_is_stored_once_whatever_holds_it() {
        let _shared = shared();
        let s = storage();
        let (_, boxes) = fresh_boxes(12, 10);
        for b in &boxes {
            assert_eq!(s.write(&checked(b)), Ok(WriteOutcome::Stored));
        }
        let stored = s
            .entries_from(b"b")
            .map(|item| item.unwrap().0)
            .take_while(|k| k[0] == b'b')
            .count();
        assert_eq!(stored, boxes.len());
    }

    /// What reads of `ids` answer: whether each is a tombstone, and its payload.
    fn contents(s: &Storage, ids: &[BoxId]) -> Vec<(bool, Option<Vec<u8>>)> {
        s.read_many(ids)
            .unwrap()
            .into_iter()
            .map(|r| {
                let tombstone = r.code == ReplyCode::Tombstone as u8;
                (tombstone, r.payload.map(|p| p.into_vec()))
            })
            .collect()
    }

    #[test]
    fn a_batch_of_writes_is_answered_and_stored_as_the_same_writes_one_by_one() {
        let _shared = shared();
        use bacap::WriteCap;
        use rand_core::SeedableRng;
        let w = WriteCap::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(3));
        let first = w.first_index().clone();
        let second = first.next().unwrap();
        let third = second.next().unwrap();
        let a = seal(&w, &first, b"ctx", b"a");
        let a_other = seal(&w, &first, b"ctx", b"another a");
        let b = seal(&w, &second, b"ctx", b"b");
        let b_gone = w.tombstone(&second, b"ctx");
        let c = seal(&w, &third, b"ctx", b"c");
        // Already stored before the batch: c.
        let writes: Vec<CheckedBox> = [&a, &a, &a_other, &b, &b_gone, &b, &c, &b_gone]
            .into_iter()
            .map(checked)
            .collect();
        let ids = [a.box_id, b.box_id, c.box_id];

        let one_by_one = storage();
        one_by_one.write(&checked(&c)).unwrap();
        let expected: Vec<_> = writes.iter().map(|w| one_by_one.write(w)).collect();
        assert_eq!(
            expected,
            [
                Ok(WriteOutcome::Stored),
                Ok(WriteOutcome::AlreadyExists { identical: true }),
                Ok(WriteOutcome::AlreadyExists { identical: false }),
                Ok(WriteOutcome::Stored),
                Ok(WriteOutcome::Stored),
                Ok(WriteOutcome::Tombstoned),
                Ok(WriteOutcome::AlreadyExists { identical: true }),
                Ok(WriteOutcome::AlreadyExists { identical: true }),
            ],
            "the rules, one write at a time"
        );

        // Whether or not the batch may wait for RocksDB (nothing holds writes back here).
        for wait in [Wait::Yes, Wait::No] {
            let batched = storage();
            batched.write(&checked(&c)).unwrap();
            assert_eq!(
                batched.write_many_or_decline(&writes, wait),
                Some(expected.clone())
            );
            assert_eq!(contents(&batched, &ids), contents(&one_by_one, &ids));
            assert_eq!(
                contents(&batched, &ids),
                [
                    (false, Some(a.payload.clone())),
                    (true, None),
                    (false, Some(c.payload.clone()))
                ]
            );
        }
    }

    #[test]
    fn a_corrupt_stored_box_is_an_internal_error_not_a_panic() {
        let _shared = shared();
        let s = storage();
        let (_, boxes) = fresh_boxes(2, 10);
        s.db.put(box_key(&boxes[0].box_id), [3u8; 20]).unwrap();
        assert_eq!(
            s.read_many(&[boxes[1].box_id, boxes[0].box_id]),
            Err(ReplyCode::InternalError)
        );
        assert_eq!(s.write(&checked(&boxes[0])), Err(ReplyCode::InternalError));

        // Long enough, but naming a replica that does not exist, or one replica twice.
        for shard in [[0, 9], [1, 1]] {
            let mut value = encode_box(0b11, shard, &boxes[1]);
            s.db.put(box_key(&boxes[1].box_id), &value).unwrap();
            assert_eq!(
                s.read_many(&[boxes[1].box_id]),
                Err(ReplyCode::InternalError)
            );
            assert_eq!(
                s.replica_holds(0, &boxes[1].box_id),
                Err(ReplyCode::InternalError)
            );
            value[1..3].copy_from_slice(&[0, 1]);
            s.db.put(box_key(&boxes[1].box_id), &value).unwrap();
            assert!(s.read_many(&[boxes[1].box_id]).is_ok());
        }
    }

    #[test]
    fn boxes_and_hints_are_found_in_flushed_files_as_in_the_memtable() {
        // On disk, flushes are rate-limited.
        in_memory_and_on_disk(boxes_and_hints_are_found_in_flushed_files);
    }

    fn boxes_and_hints_are_found_in_flushed_files(s: &Storage) {
        let r = 2;
        s.set_replica_up(r, false).unwrap();
        // Boxes replica `r` should hold, written while it is down: half of them flushed to a
        // table file, half still in the memtable. Their hints share no memtable bucket.
        let late: Vec<SealedBox> = std::iter::repeat_with(|| fresh_boxes(1, 10).1.remove(0))
            .filter(|b| s.replicas().shard(&b.box_id).contains(&r))
            .take(8)
            .collect();
        for (i, b) in late.iter().enumerate() {
            assert_eq!(s.write(&checked(b)), Ok(WriteOutcome::Stored));
            if i == 3 {
                s.db.flush().unwrap();
            }
        }
        let (_, absent) = fresh_boxes(1, 10);
        let mut ids: Vec<BoxId> = late.iter().map(|b| b.box_id).collect();
        ids.push(absent[0].box_id);
        let mut expected: Vec<ReadResult> = late
            .iter()
            .map(|b| ReadResult::stored(b.signature.as_bytes(), &b.payload))
            .collect();
        expected.push(ReadResult::not_found());
        assert_eq!(s.read_many(&ids), Ok(expected.clone()));
        assert_eq!(
            s.set_replica_up(r, true),
            Ok(late.len()),
            "every hint replayed"
        );
        for b in &late {
            assert_eq!(s.replica_holds(r, &b.box_id), Ok(true));
        }
        s.db.flush().unwrap();
        assert_eq!(s.read_many(&ids), Ok(expected));
    }

    #[test]
    fn full_size_payloads_live_in_blob_files_under_the_same_rules() {
        in_memory_and_on_disk(full_size_payloads_live_in_blob_files);
    }

    fn full_size_payloads_live_in_blob_files(s: &Storage) {
        let blob_files = || {
            s.db.property_int_value("rocksdb.num-blob-files")
                .unwrap()
                .unwrap()
        };
        let plaintext = bacap::Geometry::KATZENPOST.box_plaintext_len;
        let (w, full) = fresh_boxes(3, plaintext);
        let first = w.first_index().clone();
        let second = first.next().unwrap();
        let (_, small) = fresh_boxes(1, 10);
        assert_eq!(full[0].payload.len(), Config::ephemeral().payload_len);
        for b in full.iter().chain(&small) {
            assert_eq!(s.write(&checked(b)), Ok(WriteOutcome::Stored));
        }
        assert_eq!(blob_files(), 0, "nothing flushed yet");
        s.db.flush().unwrap();
        assert_eq!(blob_files(), 1, "the flush wrote the full payloads out");

        // From the blob file: reads, and rewrites compared with what is stored.
        let ids: Vec<BoxId> = full.iter().chain(&small).map(|b| b.box_id).collect();
        let all: Vec<(bool, Option<Vec<u8>>)> = full
            .iter()
            .chain(&small)
            .map(|b| (false, Some(b.payload.clone())))
            .collect();
        assert_eq!(contents(s, &ids), all);
        assert_eq!(
            s.write(&checked(&full[0])),
            Ok(WriteOutcome::AlreadyExists { identical: true })
        );
        let other = seal(&w, &first, CTX, &vec![7; plaintext]);
        assert_eq!(other.box_id, full[0].box_id);
        assert_eq!(
            s.write(&checked(&other)),
            Ok(WriteOutcome::AlreadyExists { identical: false })
        );

        // A tombstone replaces a payload held in the blob file, before and after it is flushed
        // and compacted.
        assert_eq!(
            s.write(&checked(&w.tombstone(&second, CTX))),
            Ok(WriteOutcome::Stored)
        );
        let mut expected = all;
        expected[1] = (true, None);
        assert_eq!(contents(s, &ids), expected);
        s.db.flush().unwrap();
        s.db.compact_range::<&[u8], &[u8]>(None, None);
        assert_eq!(contents(s, &ids), expected);
        assert_eq!(s.write(&checked(&full[1])), Ok(WriteOutcome::Tombstoned));
    }

    #[test]
    fn a_database_of_another_layout_is_refused() {
        let _shared = shared();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            // Layout 1 stored the replica keys and no layout mark.
            let mut opts = Options::default();
            opts.create_if_missing(true);
            let db = DB::open(&opts, &path).unwrap();
            db.put(META_REPLICA_KEYS, [7u8; 4 * 32]).unwrap();
        }
        let err = Storage::open(&Config::persistent(path.clone())).unwrap_err();
        assert!(
            err.to_string().contains("another version of courier-sim"),
            "{err:#}"
        );
        let fresh = dir.path().join("fresh");
        drop(Storage::open(&Config::persistent(fresh.clone())).unwrap());
        assert!(Storage::open(&Config::persistent(fresh)).is_ok(), "reopens");
    }

    #[test]
    fn restarts_keep_a_handful_of_info_logs() {
        let _shared = shared();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        for _ in 0..20 {
            drop(Storage::open(&Config::persistent(path.clone())).unwrap());
        }
        let logs = std::fs::read_dir(&path)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("LOG")
            })
            .count();
        assert!((1..=1 + KEPT_INFO_LOGS).contains(&logs), "{logs} info logs");
    }

    #[test]
    fn a_copy_in_progress_answers_in_progress() {
        let _shared = shared();
        let s = storage();
        let temp = WriteCap::generate(&mut rand_core::OsRng);
        let guard = s.begin_copy(copy_key(&temp)).unwrap();
        assert!(s.begin_copy(copy_key(&temp)).is_none());
        assert_eq!(s.copy(&temp), Ok(CopyStatus::InProgress));
        assert_eq!(
            s.copy_status(&copy_key(&temp)),
            Ok(Some(CopyStatus::InProgress))
        );
        drop(guard);
        assert!(matches!(s.copy(&temp), Ok(CopyStatus::Failed(_))));
    }

    #[test]
    fn copy_status_encoding_round_trips() {
        for st in [
            CopyStatus::Succeeded,
            CopyStatus::InProgress,
            CopyStatus::Failed(CopyFailure {
                code: ReplyCode::Tombstone,
                position: 70_000,
            }),
        ] {
            assert_eq!(decode_status(&encode_status(st)), Ok(st));
        }
        assert!(decode_status(&[9, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_status(&[0]).is_err());
    }
}
