//! How the C allocator that RocksDB's C++ code uses keeps its memory: freed blocks stay with the
//! process and are reused, instead of going back to the kernel.
//!
//! By default glibc's malloc maps each block of 128 KiB or more on its own (the threshold then
//! rises with what is freed) and unmaps it when it is freed. A memtable's arena is made of
//! 1-MiB blocks, and a flush frees the old memtable on RocksDB's flush thread, which runs in
//! `SCHED_IDLE` ([`crate::background`]): over a hundred `munmap` calls, each holding the
//! process's memory-map lock while it gives the pages back. When the scheduler preempts the
//! flush thread inside one, every thread that needs the lock for writing (glibc grows the
//! heaps of its per-thread arenas with `mprotect`, which batch reads do hundreds of times a
//! second) waits until the machine is idle enough to let the flush thread go on: tens of
//! milliseconds under load (docs/perf-history.md).
//!
//! So the allocator is told to serve blocks up to 32 MiB from its heaps and not to shrink a
//! heap unless a gigabyte at its top is free: a freed memtable's blocks stay in the heap and
//! the next memtable reuses them, without a call to the kernel. The process's footprint is
//! then about its peak (memtables are bounded by `write_buffer_size * max_write_buffer_number`),
//! which a simulator can afford.

/// Blocks smaller than this come from a heap: half of the 64 MiB a per-thread arena's heap holds
/// at most, and the ceiling of the threshold glibc adapts by itself.
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the top of a heap is given back only beyond this much.
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Sets glibc malloc up as the module documentation says, for the whole process. Does nothing
/// with other C libraries. Returns whether every setting took.
pub fn keep_heap_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        glibc::set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            && glibc::set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    /// `mallopt(param, value)`: whether glibc accepted it.
    #[allow(unsafe_code)]
    pub(super) fn set(param: libc::c_int, value: libc::c_int) -> bool {
        // SAFETY: mallopt takes two integers and changes only the allocator's own parameters,
        // under its own locks; a parameter it does not take makes it return 0.
        unsafe { libc::mallopt(param, value) == 1 }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Bytes in blocks glibc has mapped on their own (`hblkhd`).
    #[allow(unsafe_code)]
    fn mapped_block_bytes() -> usize {
        // SAFETY: mallinfo2 only reads the allocator's statistics into the struct it returns.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    #[test]
    fn blocks_below_32_mib_come_from_a_heap() {
        assert!(keep_heap_memory(), "glibc refused a setting");
        // By default glibc maps a block this large on its own: anything from 128 KiB up, or
        // from the largest such block freed so far.
        let size = 24 << 20;
        let before = mapped_block_bytes();
        #[allow(unsafe_code)]
        // SAFETY: a plain malloc, freed once below. `black_box` keeps the compiler from
        // eliding the pair.
        let block = black_box(unsafe { libc::malloc(size) });
        assert!(!block.is_null());
        let during = mapped_block_bytes();
        #[allow(unsafe_code)]
        // SAFETY: `block` came from malloc above and is freed exactly once.
        unsafe {
            libc::free(black_box(block))
        };
        // Other tests run alongside, but once the settings took none maps a block this size.
        assert!(
            during < before + size,
            "a {size}-byte block was mapped on its own ({before} -> {during} mapped bytes)"
        );
    }
}
