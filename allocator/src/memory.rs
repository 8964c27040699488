//! Writing to object memory: zeroing on allocation, poisoning on free.
//! The only places the allocator stores into heap memory.

/// Clears `[addr, addr + len)`.
///
/// # Safety
/// The range must be committed heap memory that the caller owns exclusively
/// (a slot it is about to hand out, or a fresh large object).
#[inline]
pub(crate) unsafe fn zero(addr: usize, len: usize) {
    // The small sizes, the classes most objects are in, are cleared by
    // word stores in line rather than by a call to `memset`.
    let w = addr as *mut u64;
    // SAFETY: the caller owns a committed, 8-aligned range of `len` bytes
    // at `addr` (a slot) exclusively; every store lies inside it.
    unsafe {
        match len {
            8 => w.write(0),
            16 => {
                w.write(0);
                w.add(1).write(0);
            }
            24 => {
                w.write(0);
                w.add(1).write(0);
                w.add(2).write(0);
            }
            32 => {
                w.write(0);
                w.add(1).write(0);
                w.add(2).write(0);
                w.add(3).write(0);
            }
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
    debug_assert!(addr.is_multiple_of(8) && len.is_multiple_of(8));
    let words = addr as *mut u64;
    for i in 0..len / 8 {
        // SAFETY: `i < len / 8` keeps the store inside the range the caller
        // vouches for; the range is 8-aligned.
        unsafe { words.add(i).write(POISON_WORD) };
    }
}

/// The pattern freed objects are filled with when poisoning is on.
pub const POISON_WORD: u64 = 0xDEAD_BEEF_DEAD_BEEF;
