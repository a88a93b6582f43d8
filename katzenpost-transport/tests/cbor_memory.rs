//! The CBOR reader's memory is bounded by its input: nested arrays that each announce as many
//! items as there are bytes left do not make it reserve that much at every level.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use katzenpost_transport::cbor;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// Counts the bytes this thread has allocated, and their peak.
struct Counting;

// SAFETY: every call is passed on to the system allocator unchanged; the counters are
// thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.with(|live| {
            live.set(live.get() + layout.size());
            PEAK.with(|peak| peak.set(peak.get().max(live.get())));
        });
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|live| live.set(live.get().saturating_sub(layout.size())));
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes allocated at once while `f` runs.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get) - base
}

#[test]
fn nested_announced_lengths_do_not_reserve_memory_at_every_level() {
    let len = 64 * 1024;
    let mut input = Vec::with_capacity(len);
    for _ in 0..cbor::MAX_DEPTH {
        // An array announcing as many items as there are bytes after its head.
        let left = (len - input.len() - 5) as u32;
        input.push(0x9a);
        input.extend_from_slice(&left.to_be_bytes());
    }
    input.resize(len, 0x00);
    let peak = peak_of(|| {
        let _ = cbor::decode(&input);
    });
    // Every byte left becomes one item of the innermost array, so the tree itself takes tens
    // of bytes per input byte; reserving at every level took about a thousand.
    assert!(
        peak < 100 * len,
        "{peak} bytes at the peak for {len} bytes of input"
    );
}
