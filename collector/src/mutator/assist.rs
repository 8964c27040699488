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
//! it marks, and a mutator that does not allocate is not slowed at all.
//!
//! # Parking
//!
//! An assist can find no grey object while the mark is not over: a
//! background worker holds the last of it (the object it is scanning, its
//! prefetch ring) and the OS is not running it, or the real scan work was
//! smaller than expected and the mark waits for termination. The debt is
//! then carried to the next chunk. Once it exceeds `PARK_DEBT` (1 MiB of
//! scan work) the mutator *parks* (Go's `gcParkAssist`): it enters native
//! state, so it holds up no handshake or stop-the-world, and waits until
//! background credit or grey objects show up or the mark ends, then tries
//! again. Without this, a mutator that owes work it cannot do keeps
//! allocating black until the mark ends, and the idle-priority worker that
//! could end it gets no CPU while the mutators hold every core: on the
//! churn demo (four mutators on two cores) the heap grew 50–150 MiB past
//! the runway in some cycles, which in turn raised the next goal (the
//! marked heap counts black allocation), so the goal swung between 570
//! and 880 MiB. Parking hands the CPU to the worker instead; each park
//! waits at most `PARK_POLL` (1 ms) before it looks again. The time parked
//! is reported per cycle ([`CycleStats::assist_wait`], "waited" in the
//! gctrace line).
//!
//! Assists park only in cycles the collector thread drives, which end
//! without help from any mutator; a cycle stepped by a
//! [`CycleStepper`](crate::CycleStepper) ends when its stepper says so, and
//! the stepper may be waiting on the mutator that would park. There the
//! debt is only carried, and the pacer's hard limit is the backstop.
//!
//! [`Mutator::alloc`]: crate::Mutator::alloc
//! [`CycleStats::assist_wait`]: crate::CycleStats::assist_wait

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::heap::inner::HeapInner;
use crate::mark::drain::drain_private;
use crate::mutator::state::MutatorData;
use crate::stats::thread_cpu_time;

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

/// Debt, in scan bytes, above which an assist that found no grey object
/// parks (module docs): two full assists' worth, so a mutator runs at most a
/// few 64 KiB chunks ahead of the marking it owes.
pub(crate) const PARK_DEBT: i64 = 2 * MAX_ASSIST as i64;

/// The longest one park waits before the mutator looks for work again.
pub(crate) const PARK_POLL: Duration = Duration::from_millis(1);

/// What an assist left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owed {
    /// Nothing, or a debt small enough to carry to the next chunk.
    Carried,
    /// A debt over [`PARK_DEBT`] with no grey object to be found: the
    /// mutator should park ([`park_allowed`] permitting).
    Stuck,
}

/// Called by a running mutator that reported `bytes` allocated during a mark
/// (0: a parked mutator trying again).
pub(crate) fn assist(heap: &HeapInner, data: &mut MutatorData, bytes: u64) -> Owed {
    let ms = &heap.mark_state;
    data.assist_debt += (bytes as f64 * ms.assist_ratio()) as i64;
    if data.assist_debt <= 0 {
        return Owed::Carried;
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
        return Owed::Carried;
    }
    let cpu0 = thread_cpu_time();
    let budget = (data.assist_debt as u64).clamp(MIN_ASSIST, MAX_ASSIST);
    let mut tally = ms.tally();
    let done = drain_private(heap, budget, &mut tally);
    ms.assist_bytes.fetch_add(done, Ordering::Relaxed);
    ms.assist_cpu_ns.fetch_add(
        thread_cpu_time().saturating_sub(cpu0).as_nanos() as u64,
        Ordering::Relaxed,
    );
    // Whatever is still owed (no grey object could be found, or the debt is
    // larger than one assist may do) stays for the next chunk.
    data.assist_debt -= done as i64;
    if done < budget && data.assist_debt > PARK_DEBT {
        Owed::Stuck
    } else {
        Owed::Carried
    }
}

/// Whether a mutator whose assist is [`Owed::Stuck`] may park now: the
/// collector thread drives this cycle and marking is still on.
pub(crate) fn park_allowed(heap: &HeapInner) -> bool {
    let ms = &heap.mark_state;
    ms.assists_may_park() && ms.active.load(Ordering::Acquire)
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
