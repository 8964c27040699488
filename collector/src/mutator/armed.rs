//! The generational store barrier's test of the log-armed bit (generation
//! §3), with a span memo for header-free objects.
//!
//! A headed object's bit is in its header, one load away. A header-free
//! object's is in its span (object module docs), and finding the span from
//! an address is four dependent loads through the arena index and the page
//! table. Most stores go into objects near the last one stored into (a
//! tree node and its children were allocated together), so the mutator
//! keeps the span of its last test, with the sweep generation it was found
//! in, and a hit costs a range check.
//!
//! **Why a memo is sound.** A memo made in sweep generation `h` from a store
//! into object `X` of span `S` is used only in generation `h`, for an
//! object `Y` whose address lies in `S`'s pages. The pages still belong to
//! `S`: a span leaves its pages only when a sweep frees it, and a sweep of
//! `S` in generation `h` after the memo was made would have to find no
//! object of `S` marked. But `X` was live when stored into, so it was
//! marked by the mark before `h` began (reachable, or allocated black; in
//! a minor cycle, old and marked from before), or allocated after that
//! mark, from a span already swept in `h` (a cache takes swept spans only),
//! which is not swept again in `h`. Either way `S` is not freed in `h`, and
//! the generation advances only with the world stopped, which the memo's
//! generation check sees.

use std::ptr::NonNull;

use tricolor_allocator::GcBits;

use super::Mutator;
use crate::object::{self, ObjRef};

/// The span of a mutator's last armed-bit test (module docs). The default
/// matches no address.
#[derive(Clone, Copy, Default)]
pub(super) struct SpanMemo {
    /// The span's first byte and its length in bytes (0: matches nothing).
    base: usize,
    bytes: usize,
    /// The sweep generation the span was found in.
    sweepgen: u32,
    /// The span's reciprocal for an object's index (`Span::div_mul`).
    div_mul: u32,
    /// Whether the span's objects are header-free (their bits are in
    /// `armed`, not in headers).
    header_free: bool,
    /// The span's armed flags (`None` unless the heap keeps ages, which a
    /// generational heap does).
    armed: Option<NonNull<GcBits>>,
}

impl Mutator {
    /// Whether `obj`'s log-armed bit is set: the generational barrier's
    /// fast-path test (generation §3), through the span memo (module docs)
    /// when the heap has header-free types.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap.
    #[inline(always)]
    pub(super) unsafe fn log_armed(&mut self, obj: ObjRef) -> bool {
        if !self.heap.types.has_header_free() {
            // SAFETY: the caller's contract; with no header-free type, every
            // object has a header.
            return unsafe { object::log_armed(obj) };
        }
        let addr = obj.addr();
        let h = self.heap.page.sweepgen();
        let memo = &self.span_memo;
        if addr.wrapping_sub(memo.base) >= memo.bytes || memo.sweepgen != h {
            self.refill_span_memo(addr, h);
        }
        let memo = &self.span_memo;
        if memo.header_free {
            return memo.armed.is_some_and(|bits| {
                // SAFETY: span metadata, the bitmap included, lives as long
                // as the heap, which this mutator keeps alive; the memo is
                // of `obj`'s span (module docs).
                let bits = unsafe { bits.as_ref() };
                // `obj` is an object of the span, so its offset maps to
                // its slot's index (`Span::object_index`).
                let offset = (addr - memo.base) as u64;
                bits.get(((offset * u64::from(memo.div_mul)) >> 32) as usize)
            });
        }
        // SAFETY: the caller's contract; the span is of a shared class, so
        // `obj` has a header.
        unsafe { object::log_armed(obj) }
    }

    /// Looks up the span of `addr` for the memo.
    #[cold]
    #[inline(never)]
    fn refill_span_memo(&mut self, addr: usize, h: u32) {
        self.span_memo = match self.heap.page.span_of(addr) {
            Some(span) => SpanMemo {
                base: span.base(),
                bytes: span.bytes(),
                sweepgen: h,
                div_mul: span.div_mul(),
                header_free: span.own_tag().is_some(),
                armed: span.armed_bits().map(NonNull::from),
            },
            // Not a heap object (a contract breach the debug checks report);
            // read as headed, as without a memo.
            None => SpanMemo::default(),
        };
    }
}
