//! Writing to object memory: zeroing on allocation, poisoning on free.
//! The only places the allocator stores into heap memory.

use crate::span::POISON_WORD;

/// Clears `[addr, addr + len)`.
///
/// # Safety
/// The range must be committed heap memory that the caller owns exclusively
/// (a slot it is about to hand out, or a fresh large object).
#[inline]
pub(crate) unsafe fn zero(addr: usize, len: usize) {
    // Small slots (the common case: most objects are a few words) are
    // cleared with word stores here rather than by a call to `memset`.
    // Volatile, because the optimiser turns a loop of plain stores back
    // into that call (PERFORMANCE.md, "The inline clear of small slots
    // compiles to a `memset` call").
    if len <= SMALL_ZERO && addr % 8 == 0 && len % 8 == 0 {
        let words = addr as *mut u64;
        for i in 0..len / 8 {
            // SAFETY: `i < len / 8` keeps the store inside the range the
            // caller owns; the range is 8-aligned (checked above).
            unsafe { words.add(i).write_volatile(0) };
        }
        return;
    }
    // SAFETY: the caller guarantees exclusive ownership of a committed range.
    unsafe { std::ptr::write_bytes(addr as *mut u8, 0, len) };
}

/// Ranges up to this many bytes are zeroed inline by [`zero`].
const SMALL_ZERO: usize = 64;

/// Fills `[addr, addr + len)` with [`POISON_WORD`].
///
/// # Safety
/// The range must be committed, 8-aligned heap memory that holds a dead object
/// no thread will read or write (the collector's reachability invariant) and
/// that no cache can hand out meanwhile (the caller owns its span).
pub(crate) unsafe fn poison(addr: usize, len: usize) {
    debug_assert!(addr % 8 == 0 && len % 8 == 0);
    let words = addr as *mut u64;
    for i in 0..len / 8 {
        // SAFETY: `i < len / 8` keeps the store inside the range the caller
        // vouches for; the range is 8-aligned.
        unsafe { words.add(i).write(POISON_WORD) };
    }
}
