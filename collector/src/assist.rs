//! Mark assists (Go's `gcAssistAlloc`): a mutator that allocates while a
//! concurrent mark runs pays for its allocation with marking work.
//!
//! At sweep termination the collector sets the *assist ratio*: the scan work
//! expected this cycle (the bytes the last mark found live) divided by the
//! bytes the mutators may still allocate before the heap reaches its goal.
//! A mutator reports allocation in chunks ([`Mutator::alloc`] every 64 KiB);
//! during a mark each chunk adds `chunk × ratio` bytes of scan work to the
//! mutator's debt. The mutator first takes what it can from the background
//! workers' unclaimed credit (`bg_credit`: work they did that no assist has
//! counted yet); whatever debt is left it works off itself by scanning grey
//! objects, at least `MIN_ASSIST` bytes at a time so the overhead stays
//! small. Scanning more than owed leaves credit for later chunks.
//!
//! So marking keeps pace with allocation even when the background workers get
//! no CPU (they run at idle priority): the more a mutator allocates, the more
//! it marks, and a mutator that does not allocate is not slowed at all. If an
//! assist finds no grey object (the others hold it privately, or the mark is
//! close to its end), the debt is carried to the next chunk, up to
//! `MAX_CARRIED_DEBT` (Go parks the goroutine instead); the pacer's hard
//! limit remains the backstop.
//!
//! [`Mutator::alloc`]: crate::Mutator::alloc

use std::sync::atomic::Ordering;

use crate::gcwork::{self, Tally};
use crate::heap::HeapInner;
use crate::mark::thread_cpu_time;
use crate::mutator::MutatorData;

/// The least scan work, in bytes, an assist does once it scans at all.
pub(crate) const MIN_ASSIST: u64 = 64 << 10;

/// The assist ratio for a cycle: scan bytes per allocated byte. `expected`
/// is the scan work expected (bytes live after the last mark), `runway` the
/// bytes mutators may allocate before the goal. Capped, so that a cycle that
/// starts late does not stall mutators completely.
pub(crate) fn ratio(expected: u64, runway: u64) -> f64 {
    const MIN_RUNWAY: u64 = 1 << 20;
    const MAX_RATIO: f64 = 16.0;
    (expected as f64 / runway.max(MIN_RUNWAY) as f64).min(MAX_RATIO)
}

/// Called by a running mutator that reported `bytes` allocated during a mark.
pub(crate) fn assist(heap: &HeapInner, data: &mut MutatorData, bytes: u64) {
    let ms = &heap.mark_state;
    data.assist_debt += (bytes as f64 * ms.assist_ratio()) as i64;
    if data.assist_debt <= 0 {
        return;
    }
    // Take the background workers' credit first.
    let mut avail = ms.bg_credit.load(Ordering::Relaxed);
    while avail > 0 && data.assist_debt > 0 {
        let take = avail.min(data.assist_debt);
        match ms.bg_credit.compare_exchange_weak(
            avail,
            avail - take,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => data.assist_debt -= take,
            Err(now) => avail = now,
        }
    }
    if data.assist_debt <= 0 {
        return;
    }
    let cpu0 = thread_cpu_time();
    let budget = (data.assist_debt as u64).clamp(MIN_ASSIST, MAX_ASSIST);
    let mut tally = Tally::default();
    let done = gcwork::drain_private(heap, budget, &mut tally);
    ms.assist_bytes.fetch_add(done, Ordering::Relaxed);
    ms.cpu_ns.fetch_add(
        thread_cpu_time().saturating_sub(cpu0).as_nanos() as u64,
        Ordering::Relaxed,
    );
    // Whatever is still owed (no grey object could be found, or the debt is
    // larger than one assist may do) stays for the next chunk.
    data.assist_debt -= done as i64;
}

/// The most scan work one assist does, in bytes, so that no single
/// allocation stalls long; a larger debt is paid over later chunks.
pub(crate) const MAX_ASSIST: u64 = 8 * MIN_ASSIST;

#[cfg(test)]
mod tests {
    use super::ratio;

    #[test]
    fn ratio_table() {
        let mib = 1u64 << 20;
        // (expected scan work, runway, ratio)
        let table = [
            (100 * mib, 100 * mib, 1.0),
            (100 * mib, 50 * mib, 2.0),
            (50 * mib, 100 * mib, 0.5),
            (0, 100 * mib, 0.0),
            (4 * mib, 0, 4.0),            // runway floored at 1 MiB
            (1000 * mib, 10 * mib, 16.0), // capped
        ];
        for (expected, runway, want) in table {
            assert_eq!(ratio(expected, runway), want, "{expected} / {runway}");
        }
    }
}
