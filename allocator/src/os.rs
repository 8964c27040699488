//! The operating-system memory calls, and nothing else.
//!
//! Address space is *reserved* with `PROT_NONE` and `MAP_NORESERVE` (no memory,
//! no swap accounting), *committed* with `mprotect` as the page heap grows,
//! *released* with `madvise(MADV_DONTNEED)` by the scavenger (a private
//! anonymous page reads as zero after that), and *unreserved* with `munmap`
//! when the heap is dropped. Touching reserved but uncommitted memory faults,
//! which turns a wild pointer into a crash at the point of use.

use std::io;
use std::ptr::NonNull;

/// Reserves `size` bytes of address space aligned to `align` (a power of two,
/// a multiple of the OS page size). The memory is inaccessible until committed.
pub(crate) fn reserve(size: usize, align: usize) -> io::Result<NonNull<u8>> {
    debug_assert!(align.is_power_of_two());
    let over = size
        .checked_add(align)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing aliases nothing; the arguments are valid by construction.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            over,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let start = raw as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = over - head - size;
    // SAFETY: [start, start+head) and [aligned+size, start+over) lie inside the
    // mapping just made and nothing refers to them; unmapping them trims the
    // reservation to the aligned part.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + size) as *mut libc::c_void, tail);
        }
    }
    Ok(NonNull::new(aligned as *mut u8).expect("mmap returned null"))
}

/// Makes `[addr, addr + len)` readable and writable.
///
/// # Safety
/// The range must lie inside a reservation made by [`reserve`] and still held.
pub(crate) unsafe fn commit(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: the caller guarantees the range is part of our own reservation;
    // changing its protection to read-write cannot affect any other mapping.
    let rc = unsafe {
        libc::mprotect(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Returns the physical memory behind `[addr, addr + len)` to the OS; the
/// range stays committed and reads as zero afterwards.
///
/// # Safety
/// The range must be committed memory of ours that holds no live data.
pub(crate) unsafe fn release(addr: usize, len: usize) {
    // SAFETY: the caller guarantees the range is our committed memory with no
    // live data; MADV_DONTNEED on a private anonymous mapping only drops pages.
    let rc = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    debug_assert_eq!(
        rc,
        0,
        "madvise(DONTNEED) failed: {}",
        io::Error::last_os_error()
    );
}

/// Gives `[addr, addr + len)` back to the OS.
///
/// # Safety
/// The range must be a whole reservation made by [`reserve`], and nothing may
/// use it afterwards.
pub(crate) unsafe fn unreserve(addr: usize, len: usize) {
    // SAFETY: the caller hands over the whole reservation and promises no
    // further use of it.
    let rc = unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    debug_assert_eq!(rc, 0, "munmap failed: {}", io::Error::last_os_error());
}

/// Resident memory of this process in bytes, from `/proc/self/statm`.
/// `None` where that file cannot be read.
pub fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as usize)
}
