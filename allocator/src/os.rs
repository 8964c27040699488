//! The operating-system memory calls, and nothing else.
//!
//! Address space is *reserved* with `PROT_NONE` and `MAP_NORESERVE` (no memory,
//! no swap accounting), *committed* with `mprotect` as the page heap grows,
//! *released* with `madvise(MADV_DONTNEED)` by the scavenger (a private
//! anonymous page reads as zero after that), and *unreserved* with `munmap`
//! when the heap is dropped. Touching reserved but uncommitted memory faults,
//! which turns a wild pointer into a crash at the point of use.
//!
//! ## Why raw `libc` and not `memmap2`
//!
//! `memmap2` (0.9) covers two of the four calls: `MmapOptions::map_anon` with
//! `no_reserve_swap()` is `mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)`,
//! and `MmapMut::unchecked_advise_range(UncheckedAdvice::DontNeed, ..)` is the
//! scavenger's `madvise` (an `unsafe` method: `DontNeed` is not among the safe
//! `Advice` values). It does not cover the rest of what the arenas need:
//!
//! - **No reservation.** `map_anon` always maps `PROT_READ | PROT_WRITE`; there
//!   is no way to map `PROT_NONE`. An arena would be accessible end to end from
//!   the start, so a wild pointer into its uncommitted part reads zeros (and
//!   its writes succeed) instead of faulting.
//! - **No commit.** The only protection changes are `make_read_only`,
//!   `make_exec` and `make_mut`, each over the *whole* mapping; there is no
//!   `mprotect` of a sub-range, which is what committing a chunk is.
//! - **Commit charge.** Under strict overcommit (`vm.overcommit_memory = 2`)
//!   the kernel ignores `MAP_NORESERVE` and charges a private writable mapping
//!   in full when it is made (the kernel's
//!   `Documentation/mm/overcommit-accounting.rst`), while a `PROT_NONE` one is
//!   charged nothing until `mprotect` first makes a range of it writable and
//!   charges that range. A read-write arena would be
//!   charged 64 MiB up front, and its alignment slack with it, where this
//!   module is charged by 1 MiB chunk as the heap grows.
//! - **No alignment, no trimming.** Arenas are aligned to [`ARENA_SIZE`] for the
//!   radix index. `reserve` over-maps and unmaps the unaligned head and tail;
//!   a `MmapMut` unmaps its whole original length on drop, so trimming it with
//!   `munmap` behind its back would later unmap whatever the kernel put in the
//!   holes meanwhile. The slack (up to one more arena) would have to stay
//!   mapped, read-write.
//!
//! Time is no reason either way. All `memmap2` would save is the commit step,
//! about 0.5 µs of `mprotect` per 1 MiB chunk, under 0.2 % of the cost of
//! first touching that chunk; releasing is the same `madvise` on both paths and
//! costs the same. The ignored test at the end of this file times one arena's
//! life both ways; the figures are in `docs/PERFORMANCE.md`, "Arena mappings:
//! raw `libc` against `memmap2`".
//!
//! [`ARENA_SIZE`]: crate::ARENA_SIZE

use std::io;
use std::ptr::NonNull;

/// Reserves `size` bytes of address space aligned to `align` (a power of two,
/// a multiple of the OS page size). The memory is inaccessible until committed.
#[cfg(not(miri))]
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
#[cfg(not(miri))]
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
#[cfg(not(miri))]
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
#[cfg(not(miri))]
pub(crate) unsafe fn unreserve(addr: usize, len: usize) {
    // SAFETY: the caller hands over the whole reservation and promises no
    // further use of it.
    let rc = unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    debug_assert_eq!(rc, 0, "munmap failed: {}", io::Error::last_os_error());
}

/// The same four calls under Miri, which cannot map `PROT_NONE` memory or
/// change protections: a reservation is a zeroed heap allocation (all of it
/// accessible, so a wild pointer into an uncommitted part is not caught
/// there), commit does nothing, and release zeroes the range, as the
/// kernel's `MADV_DONTNEED` leaves it.
#[cfg(miri)]
mod miri_backend {
    use std::alloc::Layout;
    use std::collections::HashMap;
    use std::io;
    use std::ptr::NonNull;
    use std::sync::Mutex;

    /// The layout of each live reservation, by address, to free it with.
    static LAYOUTS: Mutex<Option<HashMap<usize, Layout>>> = Mutex::new(None);

    pub(crate) fn reserve(size: usize, align: usize) -> io::Result<NonNull<u8>> {
        let layout = Layout::from_size_align(size, align)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `layout` has a non-zero size (an arena).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let p = NonNull::new(p).ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        LAYOUTS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .insert(p.as_ptr() as usize, layout);
        Ok(p)
    }

    pub(crate) unsafe fn commit(_addr: usize, _len: usize) -> io::Result<()> {
        Ok(())
    }

    pub(crate) unsafe fn release(addr: usize, len: usize) {
        // SAFETY: the caller guarantees the range is ours and holds no live
        // data.
        unsafe { std::ptr::write_bytes(addr as *mut u8, 0, len) };
    }

    pub(crate) unsafe fn unreserve(addr: usize, _len: usize) {
        let layout = LAYOUTS
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|m| m.remove(&addr))
            .expect("a reservation of ours");
        // SAFETY: `addr` was allocated by `reserve` with `layout`, and the
        // caller promises no further use.
        unsafe { std::alloc::dealloc(addr as *mut u8, layout) };
    }
}

#[cfg(miri)]
pub(crate) use miri_backend::{commit, release, reserve, unreserve};

/// Resident memory of this process in bytes, from `/proc/self/statm`.
/// `None` where that file cannot be read.
pub fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use memmap2::{MmapOptions, UncheckedAdvice};

    use crate::ARENA_SIZE;

    /// `Config::default().commit_chunk`.
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 16;
    const ROUNDS: usize = 200;
    const PHASES: [&str; 6] = [
        "reserve",
        "commit",
        "first touch",
        "release",
        "touch again",
        "unreserve",
    ];

    /// The time of each phase of one round.
    struct Laps {
        t: [Duration; 6],
        clock: Instant,
    }

    impl Laps {
        fn start() -> Laps {
            Laps {
                t: [Duration::ZERO; 6],
                clock: Instant::now(),
            }
        }

        /// Ends phase `phase` and starts the next.
        fn lap(&mut self, phase: usize) {
            self.t[phase] = self.clock.elapsed();
            self.clock = Instant::now();
        }
    }

    /// Writes one byte to every OS page of `[base, base + len)`.
    ///
    /// # Safety
    /// The range must be committed memory of the caller's that holds nothing.
    unsafe fn touch(base: usize, len: usize) {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        for off in (0..len).step_by(page) {
            // SAFETY: inside the range the caller vouches for.
            unsafe { ((base + off) as *mut u8).write_volatile(1) };
        }
    }

    /// One arena's life through this module: reserve, commit 16 × 1 MiB,
    /// touch, release 16 × 1 MiB, touch again, unreserve.
    fn cycle_libc() -> [Duration; 6] {
        let mut laps = Laps::start();
        let base = super::reserve(ARENA_SIZE, ARENA_SIZE).unwrap().as_ptr() as usize;
        laps.lap(0);
        for c in 0..CHUNKS {
            // SAFETY: the chunk lies inside the reservation just made.
            unsafe { super::commit(base + c * CHUNK, CHUNK) }.unwrap();
        }
        laps.lap(1);
        // SAFETY: committed just above, and ours alone.
        unsafe { touch(base, CHUNKS * CHUNK) };
        laps.lap(2);
        for c in 0..CHUNKS {
            // SAFETY: committed memory of ours holding nothing of value.
            unsafe { super::release(base + c * CHUNK, CHUNK) };
        }
        laps.lap(3);
        // SAFETY: the range was released above and reads as zero.
        assert_eq!(unsafe { *(base as *const u8) }, 0);
        // SAFETY: still committed and ours.
        unsafe { touch(base, CHUNKS * CHUNK) };
        laps.lap(4);
        // SAFETY: the whole reservation, not used after this.
        unsafe { super::unreserve(base, ARENA_SIZE) };
        laps.lap(5);
        laps.t
    }

    /// The same life through `memmap2`: a read-write `MAP_NORESERVE` mapping
    /// with room to align (it cannot be trimmed), no commit step (it has no
    /// `PROT_NONE` and no ranged `mprotect`), `MADV_DONTNEED` by range, drop.
    fn cycle_memmap2() -> [Duration; 6] {
        let mut laps = Laps::start();
        let map = MmapOptions::new()
            .len(2 * ARENA_SIZE)
            .no_reserve_swap()
            .map_anon()
            .unwrap();
        let offset = (map.as_ptr() as usize).next_multiple_of(ARENA_SIZE) - map.as_ptr() as usize;
        let base = map.as_ptr() as usize + offset;
        laps.lap(0);
        // Nothing to commit: the mapping is read-write already.
        laps.lap(1);
        // SAFETY: the mapping is read-write and ours alone.
        unsafe { touch(base, CHUNKS * CHUNK) };
        laps.lap(2);
        for c in 0..CHUNKS {
            // SAFETY: the range lies inside the mapping and holds nothing of
            // value; no reference into it is alive.
            unsafe {
                map.unchecked_advise_range(UncheckedAdvice::DontNeed, offset + c * CHUNK, CHUNK)
            }
            .unwrap();
        }
        laps.lap(3);
        // SAFETY: the range was released above and reads as zero.
        assert_eq!(unsafe { *(base as *const u8) }, 0);
        // SAFETY: as for the first touch.
        unsafe { touch(base, CHUNKS * CHUNK) };
        laps.lap(4);
        drop(map);
        laps.lap(5);
        laps.t
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    /// The arena calls through raw `libc` against the same cycle through
    /// `memmap2`, interleaved round by round. A timing comparison, not a
    /// check: run it by hand, in release mode, with
    /// `cargo test --release -p tricolor-allocator --lib os::tests -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing comparison; run by hand"]
    fn arena_calls_libc_against_memmap2() {
        let mut libc_t = Vec::with_capacity(ROUNDS);
        let mut mm_t = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            libc_t.push(cycle_libc());
            mm_t.push(cycle_memmap2());
        }
        println!(
            "median of {ROUNDS} rounds, one 64 MiB arena, {CHUNKS} x 1 MiB chunks (µs):\n\
             {:<12} {:>9} {:>9}",
            "phase", "libc", "memmap2"
        );
        for (p, name) in PHASES.iter().enumerate() {
            let a = median(libc_t.iter().map(|t| t[p]).collect());
            let b = median(mm_t.iter().map(|t| t[p]).collect());
            println!(
                "{name:<12} {:>9.1} {:>9.1}",
                a.as_secs_f64() * 1e6,
                b.as_secs_f64() * 1e6
            );
        }
    }
}
