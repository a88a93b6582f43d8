//! How RocksDB's flush and compaction threads are scheduled: below every request thread, so
//! that on a small machine a flush takes the CPU that requests leave instead of competing with
//! them, unless it falls behind.
//!
//! On Linux the threads are put in the `SCHED_IDLE` class: they run only when no ordinary
//! thread wants the CPU, and give it up as soon as one does. RocksDB's own lowering (nice 19)
//! is the fallback elsewhere, or if that fails; at nice 19 a flush still competes with the
//! requests, which then wait behind it for whole scheduler slices.
//!
//! The catch is a lock such a thread holds while others wait for it: it runs again only when
//! the machine has time to spare. [`crate::heap`] keeps the one such lock found so far (the
//! kernel's memory-map lock, taken to unmap a freed memtable) off the flush thread.
//!
//! The other catch is a machine with no time to spare: requests then take every cycle, a flush
//! in `SCHED_IDLE` hardly runs, full memtables pile up behind it, and RocksDB first slows and
//! then stops every write until the flush is done (seconds, at the background write rate), and
//! with its request threads held by stopped writes the courier stands still. So a
//! [`BacklogWatch`] checks each database's backlog ([`CHECK_EVERY`]) and while the flushes
//! ([`FLUSHES_BEHIND`]) or the compactions ([`COMPACTIONS_BEHIND`]) of any database in the
//! process are behind, their threads run as ordinary threads; once caught up, they go back to
//! `SCHED_IDLE`.
//!
//! The threads belong to RocksDB's process-wide default environment, so this applies to every
//! RocksDB database in the process, and covers the threads that exist when it is called: each
//! [`crate::storage::Storage`] calls it after opening its database.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rocksdb::{Env, DB};

/// The prefix of the names RocksDB gives its background threads (`rocksdb:low`,
/// `rocksdb:high`, ...).
const THREAD_PREFIX: &str = "rocksdb:";

/// How often a [`BacklogWatch`] looks at its database's backlog.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Full (immutable) memtables at which flushes are behind: RocksDB slows writes down here, and
/// stops them at one more (`max_write_buffer_number` is 4), a memtable's worth of writes later
/// (7.5 s at 10,000 writes/s; flushing one takes at least 2 s at the background write rate).
/// Not at 2: on a busy machine a flush in idle time often outlasts the next memtable by a
/// second or two, and the thread would then be moved to compete with requests at every switch.
pub const FLUSHES_BEHIND: u64 = 3;

/// Files in level 0 at which compactions are behind: compactions start at 4, RocksDB slows
/// writes down at 20 and stops them at 36.
pub const COMPACTIONS_BEHIND: u64 = 10;

/// The background work whose threads a [`BacklogWatch`] moves, each pool on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// Flushes: RocksDB's high-priority pool.
    Flushes,
    /// Compactions: RocksDB's low-priority pool.
    Compactions,
}

impl Pool {
    const ALL: [Pool; 2] = [Pool::Flushes, Pool::Compactions];

    /// The name RocksDB gives the pool's threads.
    fn thread_name(self) -> &'static str {
        match self {
            Pool::Flushes => "rocksdb:high",
            Pool::Compactions => "rocksdb:low",
        }
    }

    /// The database property that measures the pool's backlog.
    fn property(self) -> &'static str {
        match self {
            Pool::Flushes => "rocksdb.num-immutable-mem-table",
            Pool::Compactions => "rocksdb.num-files-at-level0",
        }
    }

    /// Whether a backlog this large means the pool is behind.
    fn behind(self, backlog: u64) -> bool {
        backlog
            >= match self {
                Pool::Flushes => FLUSHES_BEHIND,
                Pool::Compactions => COMPACTIONS_BEHIND,
            }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many databases of the process have each pool behind.
static BEHIND: Mutex<[usize; 2]> = Mutex::new([0; 2]);

/// Counts one database's pool as behind (or caught up again), and moves the pool's threads when
/// the first database falls behind or the last one catches up.
fn count_behind(pool: Pool, behind: bool) {
    let mut counts = BEHIND.lock().unwrap_or_else(|e| e.into_inner());
    let count = &mut counts[pool.index()];
    let before = *count > 0;
    *count = if behind {
        *count + 1
    } else {
        count.saturating_sub(1)
    };
    let after = *count > 0;
    if before == after {
        return;
    }
    if after {
        tracing::info!(
            pool = pool.thread_name(),
            "RocksDB background work is behind: its threads now run as ordinary threads"
        );
    } else {
        tracing::info!(
            pool = pool.thread_name(),
            "RocksDB background work caught up: its threads run in idle time again"
        );
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = linux::set_threads(pool.thread_name(), !after) {
        tracing::warn!(error = %e, pool = pool.thread_name(), "cannot reschedule RocksDB's threads");
    }
}

/// Watches one database's flush and compaction backlog from a thread of its own (a request
/// thread may be the one a stopped write holds), for as long as the watch lives. Dropping it
/// stops and joins the thread.
pub struct BacklogWatch {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BacklogWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BacklogWatch").finish_non_exhaustive()
    }
}

impl BacklogWatch {
    /// Starts watching `db`.
    pub fn start(db: Arc<DB>) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("courier-backlog".into())
            .spawn(move || watch(&db, &stopped))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for BacklogWatch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watching thread: until `stopped` hears from its sender (or loses it).
fn watch(db: &DB, stopped: &mpsc::Receiver<()>) {
    let mut behind = [false; 2];
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECK_EVERY) {
        for pool in Pool::ALL {
            let backlog = match db.property_int_value(pool.property()) {
                Ok(Some(n)) => n,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, property = pool.property(), "RocksDB property");
                    continue;
                }
            };
            let now = pool.behind(backlog);
            if now != behind[pool.index()] {
                behind[pool.index()] = now;
                count_behind(pool, now);
            }
        }
    }
    for pool in Pool::ALL {
        if behind[pool.index()] {
            count_behind(pool, false);
        }
    }
}

/// Puts RocksDB's background threads below the request threads: `SCHED_IDLE` where possible,
/// otherwise `env`'s nice-19 lowering.
pub fn lower_priority(env: &mut Env) {
    #[cfg(target_os = "linux")]
    match linux::idle_threads(THREAD_PREFIX) {
        Ok(n) if n > 0 => return,
        Ok(_) => tracing::warn!("no RocksDB background threads found; lowering their nice value"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot make RocksDB's threads idle-class; lowering their nice value")
        }
    }
    env.lower_thread_pool_cpu_priority();
    env.lower_high_priority_thread_pool_cpu_priority();
}

#[cfg(target_os = "linux")]
pub(crate) mod linux {
    use std::io;

    /// The IDs of this process's threads whose name starts with `prefix`.
    pub(crate) fn threads_named(prefix: &str) -> io::Result<Vec<libc::pid_t>> {
        let mut tids = Vec::new();
        for entry in std::fs::read_dir("/proc/self/task")? {
            let entry = entry?;
            // A thread that ended since the listing has no name any more: skip it.
            let Ok(name) = std::fs::read_to_string(entry.path().join("comm")) else {
                continue;
            };
            if name.starts_with(prefix) {
                if let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                    tids.push(tid);
                }
            }
        }
        Ok(tids)
    }

    /// The scheduling policy of thread `tid` of this process, from `/proc` (field 41 of its
    /// `stat`).
    #[cfg(test)]
    pub(crate) fn policy(tid: libc::pid_t) -> io::Result<libc::c_int> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))?;
        // The name (field 2) is in parentheses and may hold anything: count from after it.
        let after_name = stat
            .rfind(')')
            .map(|i| &stat[i + 1..])
            .ok_or_else(|| io::Error::other("malformed stat"))?;
        after_name
            .split_whitespace()
            .nth(41 - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("no policy field in stat"))
    }

    /// Puts every thread of this process named `prefix...` in the `SCHED_IDLE` class; returns
    /// how many it moved. A thread that ended since the listing is skipped.
    pub(crate) fn idle_threads(prefix: &str) -> io::Result<usize> {
        set_threads(prefix, true)
    }

    /// Puts every thread of this process named `prefix...` in the `SCHED_IDLE` class (`idle`)
    /// or back among ordinary threads (`SCHED_OTHER`, at the nice value they had); returns how
    /// many it moved. A thread that ended since the listing is skipped.
    pub(crate) fn set_threads(prefix: &str, idle: bool) -> io::Result<usize> {
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        let mut moved = 0;
        for tid in threads_named(prefix)? {
            match set_policy(tid, policy) {
                Ok(()) => moved += 1,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }

    #[allow(unsafe_code)]
    fn set_policy(tid: libc::pid_t, policy: libc::c_int) -> io::Result<()> {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler only reads `param`, a valid sched_param that outlives the
        // call; a thread ID that is not (or no longer) ours fails with ESRCH, it is not UB.
        let rc = unsafe { libc::sched_setscheduler(tid, policy, &param) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Keeps the tests that move RocksDB's threads or check how they are scheduled (exclusive)
/// apart from every test that opens a database (shared): the threads are the whole process's,
/// and each database's watch moves them.
#[cfg(test)]
pub(crate) static SCHEDULING_TESTS: std::sync::RwLock<()> = std::sync::RwLock::new(());

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Waits (up to 10 s) until every thread of `pool` has `policy`.
    fn wait_for(pool: Pool, policy: libc::c_int) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let tids = linux::threads_named(pool.thread_name()).unwrap();
            if !tids.is_empty()
                && tids
                    .iter()
                    .all(|&t| linux::policy(t).map_or(true, |p| p == policy))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn behind_is_measured_against_each_pools_threshold() {
        assert!(!Pool::Flushes.behind(FLUSHES_BEHIND - 1));
        assert!(Pool::Flushes.behind(FLUSHES_BEHIND));
        assert!(!Pool::Compactions.behind(COMPACTIONS_BEHIND - 1));
        assert!(Pool::Compactions.behind(COMPACTIONS_BEHIND));
        assert_eq!(Pool::Flushes.thread_name(), "rocksdb:high");
        assert_eq!(Pool::Compactions.thread_name(), "rocksdb:low");
    }

    #[test]
    fn compaction_threads_run_as_ordinary_threads_while_level_0_piles_up() {
        let _serial = SCHEDULING_TESTS.write().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.set_max_background_jobs(2);
        // Level 0 grows by one file per flush below, and stays until compacted by hand.
        opts.set_disable_auto_compactions(true);
        let db = Arc::new(DB::open(&opts, dir.path()).unwrap());
        linux::idle_threads(THREAD_PREFIX).unwrap();
        assert!(wait_for(Pool::Compactions, libc::SCHED_IDLE));
        let watch = BacklogWatch::start(db.clone()).unwrap();
        for i in 0..COMPACTIONS_BEHIND {
            db.put(i.to_be_bytes(), b"box").unwrap();
            db.flush().unwrap();
        }
        assert!(
            wait_for(Pool::Compactions, libc::SCHED_OTHER),
            "{COMPACTIONS_BEHIND} files in level 0: the compaction threads compete"
        );
        db.compact_range(None::<&[u8]>, None::<&[u8]>);
        assert!(
            wait_for(Pool::Compactions, libc::SCHED_IDLE),
            "compacted: the compaction threads are idle-class again"
        );
        drop(watch);
        assert_eq!(
            BEHIND.lock().unwrap()[Pool::Compactions.index()],
            0,
            "a stopped watch counts nothing as behind"
        );
    }
}
