//! How RocksDB's flush and compaction threads are scheduled: below every request thread, so
//! that on a small machine a flush takes the CPU that requests leave instead of competing with
//! them.
//!
//! On Linux the threads are put in the `SCHED_IDLE` class: they run only when no ordinary
//! thread wants the CPU, and give it up as soon as one does. RocksDB's own lowering (nice 19)
//! is the fallback elsewhere, or if that fails. With nice 19 a flush still took 400 to 560 ms
//! of CPU within a second or two of each memtable switch, and request threads waited behind it
//! for whole scheduler slices (see the README's load figures).
//!
//! The catch is a lock such a thread holds while others wait for it: it runs again only when
//! the machine has time to spare. [`crate::heap`] keeps the one such lock found so far (the
//! kernel's memory-map lock, taken to unmap a freed memtable) off the flush thread.
//!
//! The threads belong to RocksDB's process-wide default environment, so this applies to every
//! RocksDB database in the process, and covers the threads that exist when it is called: each
//! [`crate::storage::Storage`] calls it after opening its database.

use rocksdb::Env;

/// The prefix of the names RocksDB gives its background threads (`rocksdb:low`,
/// `rocksdb:high`, ...).
const THREAD_PREFIX: &str = "rocksdb:";

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
        let mut moved = 0;
        for tid in threads_named(prefix)? {
            match set_idle(tid) {
                Ok(()) => moved += 1,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }

    #[allow(unsafe_code)]
    fn set_idle(tid: libc::pid_t) -> io::Result<()> {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler only reads `param`, a valid sched_param that outlives the
        // call; a thread ID that is not (or no longer) ours fails with ESRCH, it is not UB.
        let rc = unsafe { libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
