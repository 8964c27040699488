//! Writing to object memory: zeroing on allocation, poisoning on free.
//! The only places the allocator stores into heap memory.

use crate::span::POISON_WORD;

/// Clears `[addr, addr + len)`.
///
/// The smallest size classes are cleared with fixed-size stores, which the
/// compiler emits inline; any other length goes to `memset`, whose call
/// and dispatch on the length would otherwise cost as much as the rest of
/// the allocation fast path for a 16–64 byte slot.
///
/// # Safety
/// The range must be committed heap memory that the caller owns exclusively
/// (a slot it is about to hand out, or a fresh large object).
#[inline]
pub(crate) unsafe fn zero(addr: usize, len: usize) {
    /// Clears `N` words at `addr`.
    ///
    /// # Safety
    /// As for `zero`, with `len == N * 8` and `addr` 8-aligned.
    #[inline(always)]
    unsafe fn words<const N: usize>(addr: usize) {
        // SAFETY: the caller's range is `N` words, exclusively owned; slots
        // are 8-aligned (size classes are multiples of 8 from page-aligned
        // span bases), which `[u64; N]` needs.
        unsafe { (addr as *mut [u64; N]).write([0; N]) }
    }
    debug_assert!(addr % 8 == 0, "heap slots are 8-aligned");
    // SAFETY (every arm): the caller guarantees exclusive ownership of the
    // committed range `[addr, addr + len)`, 8-aligned; each fixed arm
    // writes exactly `len` bytes.
    unsafe {
        match len {
            8 => words::<1>(addr),
            16 => words::<2>(addr),
            24 => words::<3>(addr),
            32 => words::<4>(addr),
            48 => words::<6>(addr),
            64 => words::<8>(addr),
            _ => std::ptr::write_bytes(addr as *mut u8, 0, len),
        }
    }
}

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
