//! Heap profiles: sampled allocation sites, kept until the sweep frees the
//! sampled object, written in pprof's format (Go's `runtime.MemProfile` and
//! `pprof.WriteHeapProfile`). The user contract is on
//! [`Heap::write_heap_profile`](crate::Heap::write_heap_profile) and
//! [`Config::heap_profile_rate`](crate::Config::heap_profile_rate); this
//! page is the algorithm, cited from the code as "profile §n".
//!
//! # §1 Sampling
//!
//! With a rate of R bytes, each mutator samples the allocation that covers
//! a point drawn on its stream of allocated bytes, the next point an
//! exponentially distributed distance (mean R) further on: Go's
//! `nextSample`. Each byte is equally likely to be sampled, so an object of
//! s bytes is sampled with probability 1 − e^(−s/R), and a sample stands for
//! 1 / (1 − e^(−s/R)) objects (§4).
//!
//! The point costs the allocation fast path nothing. The fast path already
//! leaves for the general path when the bytes allocated since the last
//! report to the pacer would pass a threshold; that threshold is the
//! mutator's `report_at`, the nearer of the next report and the next sample
//! point (`u64::MAX`-far when sampling is off, so only the report counts).
//! The general path allocates the object that would pass it, and samples it
//! if it covers the point. A mutator notices a new rate
//! ([`Heap::set_heap_profile_rate`](crate::Heap::set_heap_profile_rate)) on
//! its next visit to the general path, at most one report interval later.
//! The random numbers are a per-mutator generator seeded from the mutator's
//! id: a program that allocates the same way samples the same objects.
//!
//! A sample records the stack, as return addresses only (symbols are
//! resolved when the profile is written), the object's type and its slot
//! size.
//!
//! # §2 Buckets
//!
//! Samples are counted in buckets keyed by (stack, type, slot size, rate),
//! each with its objects allocated and freed (bytes are objects × size). Go
//! keys by (stack, size); the type is the label a VM author reads first, and
//! the rate makes each bucket's unsampling exact if the rate changes. The
//! buckets sit behind one lock, taken when a sample is taken, when a sampled
//! object is freed, and when a profile is written: never on the fast path.
//!
//! # §3 In use until swept
//!
//! A sampled object carries a profile record, a special (specials §1) whose
//! data is its bucket's index. The sweep hands the records of dead objects
//! to the specials hook; its step 5 (specials §3) counts the free in the
//! bucket, unless step 2 kept the object for its finalizer, in which case
//! the record stays with it. The sweep may run on the background sweeper or
//! lazily in any mutator that needs a span; the bucket lock serialises them,
//! and it is taken inside the span's specials lock, never the other way
//! round (a sample takes the bucket lock, lets it go, then adds the record).
//! So a sample is "in use" from its allocation until the sweep that frees
//! it, across any number of cycles. Unlike Go, which publishes a cycle's
//! counts only once the cycle after it has swept, the profile shows the
//! counts as they stand: objects that died in the last mark and are not yet
//! swept still count as in use (`Heap::collect` returns with the sweep done).
//!
//! # §4 Writing
//!
//! `write_heap_profile` copies the buckets under the lock, resolves each
//! return address once (inlined frames give several lines per location,
//! innermost first), trims the leading frames of the collector, the safe
//! API and the unwinder so that a sample's first frame is the allocating
//! function, and writes a gzipped `profile.proto` as Go's heap profile is:
//! sample types `alloc_objects`, `alloc_space`, `inuse_objects`,
//! `inuse_space`, period `space`/`bytes` of the rate, a `type` label and a
//! `bytes` label (the slot size) per sample, and one mapping marked as
//! symbolised. Each bucket's counts are scaled as pprof's unsampling does:
//! n samples of s bytes at rate R stand for n / (1 − e^(−s/R)) objects.
//!
//! # Where the code is
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the heap's profile state: the rate and the buckets (§2) |
//! | `buckets.rs` | §2: the bucket table |
//! | `sample.rs` | §1: the per-mutator sampler and stack capture |
//! | `proto.rs` | the protobuf encoding, the few field kinds `profile.proto` uses |
//! | `pprof.rs` | §4: symbols, trimming, the `Profile` message |
//!
//! The fast path's threshold is in `mutator::alloc`; step 5 of the sweep in
//! `specials::sweep`.

pub mod buckets;
pub mod pprof;
pub mod proto;
pub mod sample;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use buckets::{Bucket, Buckets};

/// A heap's profiling state: the rate and the buckets (profile §2).
pub(crate) struct Profile {
    /// Bytes between samples on average; 0 when off.
    rate: AtomicU64,
    /// The rate last set on, for the profile's period when sampling is off
    /// again (0 if it never was on).
    last_rate: AtomicU64,
    buckets: Mutex<Buckets>,
}

impl Profile {
    pub(crate) fn new(rate: Option<u64>) -> Profile {
        let r = rate.unwrap_or(0);
        Profile {
            rate: AtomicU64::new(r),
            last_rate: AtomicU64::new(r),
            buckets: Mutex::new(Buckets::default()),
        }
    }

    /// The rate in bytes, 0 when sampling is off.
    #[inline]
    pub(crate) fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// The rate the profile's period reports: the current one, or the last
    /// one sampling ran at.
    pub(crate) fn period(&self) -> u64 {
        self.last_rate.load(Ordering::Relaxed)
    }

    /// Sets the rate (`None` or 0: off); returns the previous one.
    pub(crate) fn set_rate(&self, rate: Option<u64>) -> Option<u64> {
        let r = rate.unwrap_or(0);
        if r != 0 {
            self.last_rate.store(r, Ordering::Relaxed);
        }
        let old = self.rate.swap(r, Ordering::Relaxed);
        (old != 0).then_some(old)
    }

    /// Counts a sample; returns its bucket's index for the object's
    /// profile record (profile §3).
    pub(crate) fn record_alloc(&self, stack: Box<[usize]>, ty: u32, size: u64, rate: u64) -> usize {
        self.buckets.lock().record_alloc(stack, ty, size, rate)
    }

    /// Counts the free of a sampled object (profile §3).
    pub(crate) fn record_free(&self, bucket: usize) {
        self.buckets.lock().record_free(bucket);
    }

    /// A copy of the buckets, for the writer.
    pub(crate) fn snapshot(&self) -> Vec<Bucket> {
        self.buckets.lock().list().to_vec()
    }
}
