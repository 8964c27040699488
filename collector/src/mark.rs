//! The stop-the-world mark, used with the barrier off (`BarrierMode::Off`):
//! from the roots, turn every reachable object black (essay steps 2-4 in one
//! pause). Also the object scanning and pointer resolution every marker
//! shares (`for_each_referent`, `resolve`).
//!
//! Grey objects are marked objects not yet scanned; they wait in each
//! worker's private stack, prefetch ring and LIFO deque (crossbeam-deque;
//! every few scans the worker refills it from the bottom of its stack if it
//! ran empty, see the gcwork module), and idle workers steal from the
//! others' deques and from a shared injector that holds the roots. A worker
//! scans an object by loading each pointer field its descriptor names
//! (relaxed atomic loads), setting the referent's mark bit (an atomic
//! test-and-set on the span's mark bitmap), and pushing the referent if it
//! won the bit and the referent may hold pointers (objects in noscan spans
//! are marked, never scanned). Each object is therefore scanned once, by the
//! worker that marked it.
//!
//! Termination: a worker with nothing to pop or steal counts itself idle; it
//! leaves when all workers are idle at once. Only a busy worker creates grey
//! objects, and it pushes them onto its own stack, which it empties (with
//! its ring and deque) before it can go idle; so "all idle" means every
//! stack and deque is empty and nothing can refill one: the grey set is
//! empty (essay step 4's condition).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_deque::{Injector, Stealer, Worker};

use crate::descriptor::{Edges, Pointers, TypeDescriptor};
use crate::gcwork::Prefetched;
use crate::heap::HeapInner;
use crate::mutator::RootKind;
use crate::object::{self, ObjRef, ObjectView};

/// What one mark found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MarkOutcome {
    /// Bytes in marked objects (slot sizes).
    pub(crate) live_bytes: u64,
    /// Marked objects.
    pub(crate) live_objects: u64,
    /// CPU time of all mark workers.
    pub(crate) cpu: Duration,
}

impl std::ops::AddAssign for MarkOutcome {
    fn add_assign(&mut self, o: MarkOutcome) {
        self.live_bytes += o.live_bytes;
        self.live_objects += o.live_objects;
        self.cpu += o.cpu;
    }
}

/// Where a pointer was found, for error messages.
#[derive(Copy, Clone)]
pub(crate) enum Source<'a> {
    Root(RootKind),
    /// A value a mutator's write barrier recorded (an old or new field value).
    Barrier(u64),
    Field {
        obj: usize,
        desc: &'a TypeDescriptor,
        field: Option<usize>,
    },
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Root(r) => write!(f, "{r}"),
            Source::Barrier(m) => write!(f, "a pointer store of mutator {m} (write barrier)"),
            Source::Field {
                obj,
                desc,
                field: Some(i),
            } => write!(f, "field {i} of `{}` object at {obj:#x}", desc.name),
            Source::Field {
                obj,
                desc,
                field: None,
            } => write!(
                f,
                "a referent reported by the trace callback of `{}` object at {obj:#x}",
                desc.name
            ),
        }
    }
}

/// Checks that `value`, found at `src`, is the start of an allocated object
/// of this heap; returns the object. A value that is not an object panics
/// with a message naming `src` in debug builds and is ignored in release
/// builds (marking a non-object could only do harm).
#[inline]
pub(crate) fn resolve<'h>(
    heap: &'h HeapInner,
    value: usize,
    src: Source<'_>,
) -> Option<tricolor_allocator::ObjectRef<'h>> {
    check_resolved(heap.page.find_object(value), value, src)
}

/// The debug-build checks of [`resolve`] on what a lookup of `value` found.
#[inline]
fn check_resolved<'h>(
    found: Option<tricolor_allocator::ObjectRef<'h>>,
    value: usize,
    src: Source<'_>,
) -> Option<tricolor_allocator::ObjectRef<'h>> {
    if cfg!(debug_assertions) {
        let Some(o) = found else {
            panic!("tricolor: {src} holds {value:#x}, which is not a pointer into this heap");
        };
        if o.base() != value {
            panic!(
                "tricolor: {src} holds {value:#x}, an interior pointer into the object at {:#x}; \
                 pointer fields must hold the start of an object",
                o.base()
            );
        }
        // An object allocated during a concurrent mark may sit in a span a
        // mutator's cache holds, whose allocation state the span does not
        // show yet; such an object is allocated black, so its mark bit is
        // set (and visible: see the object module's ordering rules).
        if !o.span().is_allocated(o.index()) && !o.is_marked() {
            panic!("tricolor: {src} holds {value:#x}, a freed object (dangling pointer)");
        }
    }
    found
}

/// One marker's memo of its last lookups: the span of the last object it
/// resolved and the descriptor of the last object it scanned. Neighbouring
/// objects of a graph often share a span (they were allocated together),
/// and a heap's objects are mostly of few types, so a memo hit skips the
/// arena index and page table walk (four dependent loads) or the type
/// table's two.
///
/// A memo lives for one drain, inside one mark phase (essay steps 2-4), and
/// that is what makes it sound: a span found in use stays in use, with the
/// same address range, until a sweep frees it, and no sweep runs while
/// marking; a registered descriptor never changes.
pub(crate) struct Lookup<'h> {
    heap: &'h HeapInner,
    /// The span of the last object resolved (`None` before the first), and
    /// its first byte and length in bytes (0: matches no address).
    span: Option<&'h tricolor_allocator::Span>,
    span_base: usize,
    span_bytes: usize,
    /// The type index of the last object scanned and its descriptor.
    ty: u32,
    desc: Option<&'h TypeDescriptor>,
}

impl<'h> Lookup<'h> {
    /// An empty memo for a drain of `heap`.
    pub(crate) fn new(heap: &'h HeapInner) -> Lookup<'h> {
        Lookup {
            heap,
            span: None,
            span_base: 0,
            span_bytes: 0,
            ty: u32::MAX,
            desc: None,
        }
    }

    /// [`resolve`], through the span memo.
    #[inline]
    pub(crate) fn resolve(
        &mut self,
        value: usize,
        src: Source<'_>,
    ) -> Option<tricolor_allocator::ObjectRef<'h>> {
        let found = match self.span {
            Some(span) if value.wrapping_sub(self.span_base) < self.span_bytes => {
                span.find_object(value)
            }
            _ => {
                let found = self.heap.page.find_object(value);
                if let Some(o) = found {
                    let span = o.span();
                    self.span = Some(span);
                    self.span_base = span.base();
                    self.span_bytes = span.bytes();
                }
                found
            }
        };
        check_resolved(found, value, src)
    }

    /// The descriptor and length of object `obj`, from its header, through
    /// the type memo. `obj` must be an allocated object of this heap: one
    /// that a marker shaded from a validated pointer during this mark.
    #[inline]
    pub(crate) fn header_of(&mut self, obj: usize) -> (&'h TypeDescriptor, usize) {
        let header = load_header_of(obj);
        let (ty, len) = object::decode_header(header);
        if let (true, Some(desc)) = (ty == self.ty, self.desc) {
            return (desc, len);
        }
        let desc = self
            .heap
            .types
            .by_index(ty)
            .unwrap_or_else(|| bad_header(obj, header));
        self.ty = ty;
        self.desc = Some(desc);
        (desc, len)
    }
}

/// The header of an object a marker reached.
#[inline]
fn load_header_of(obj: usize) -> u64 {
    let o = ObjRef::from_addr(obj).expect("non-null object");
    // `obj` was marked from a validated pointer; only the sweep frees
    // objects, and no sweep runs while marking or verifying (essay steps
    // 2-4); its header was published before the pointer we found (object
    // module docs).
    // SAFETY: so `obj` is an allocated object of this heap for this call.
    unsafe { object::load_header(o) }
}

/// Reports an unreadable header: the object was freed and poisoned, or
/// memory was corrupted. Always fatal: scanning it would follow garbage.
#[cold]
pub(crate) fn bad_header(obj: usize, header: u64) -> ! {
    if header as u32 == tricolor_allocator::POISON_WORD as u32 {
        panic!(
            "tricolor: reached the freed (poisoned) object at {obj:#x}: a pointer to it \
             survived its collection"
        );
    }
    panic!("tricolor: object at {obj:#x} has an invalid header {header:#x} (unknown type)");
}

/// Calls `f(referent, field)` for every non-null pointer in `obj`; returns
/// the object's payload size in words.
#[inline]
pub(crate) fn for_each_referent(
    heap: &HeapInner,
    obj: usize,
    f: impl FnMut(usize, &TypeDescriptor, Option<usize>),
) -> usize {
    let header = load_header_of(obj);
    let (ty, len) = object::decode_header(header);
    let desc = heap
        .types
        .by_index(ty)
        .unwrap_or_else(|| bad_header(obj, header));
    referents(obj, desc, len, f)
}

/// [`for_each_referent`] for an object whose descriptor and length are
/// known (read from its header by the caller).
#[inline]
pub(crate) fn referents(
    obj: usize,
    desc: &TypeDescriptor,
    len: usize,
    mut f: impl FnMut(usize, &TypeDescriptor, Option<usize>),
) -> usize {
    let o = ObjRef::from_addr(obj).expect("non-null object");
    let words = desc.payload_words(len).unwrap_or(0);
    match &desc.pointers {
        Pointers::None => {}
        Pointers::Bitmap(_) => desc.for_each_pointer_word(len, |i| {
            // SAFETY: `obj` is an allocated object of this heap (the
            // callers' contract, as in `load_header_of`), and the
            // descriptor says word `i` is inside it.
            let v = unsafe { object::load_field(o, i) } as usize;
            if v != 0 {
                f(v, desc, Some(i));
            }
        }),
        Pointers::Traced { trace, .. } => {
            // SAFETY: as above; `words` is the object's payload size.
            let view = unsafe { ObjectView::new(o, words, len) };
            let mut sink = |v: usize| f(v, desc, None);
            trace(view, &mut Edges { sink: &mut sink });
        }
    }
    words
}

/// Marks everything reachable from `roots` with `workers` threads (the
/// calling thread is one of them). The world must be stopped and every cache
/// released.
pub(crate) fn mark(heap: &HeapInner, roots: &[(usize, RootKind)], workers: usize) -> MarkOutcome {
    let workers = workers.max(1);
    let injector = Injector::new();
    let mut total = MarkOutcome::default();
    for &(value, kind) in roots {
        if let Some(o) = resolve(heap, value, Source::Root(kind)) {
            if o.mark() {
                total.live_bytes += o.size() as u64;
                total.live_objects += 1;
                if !o.span().is_noscan() {
                    injector.push(o.base());
                }
            }
        }
    }
    let deques: Vec<Worker<usize>> = (0..workers).map(|_| Worker::new_lifo()).collect();
    let stealers: Vec<Stealer<usize>> = deques.iter().map(Worker::stealer).collect();
    let idle = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let ctx = Ctx {
        heap,
        injector: &injector,
        stealers: &stealers,
        idle: &idle,
        abort: &abort,
        workers,
    };
    let mut deques = deques.into_iter();
    let first = deques.next().expect("at least one worker");
    let outcomes = std::thread::scope(|s| {
        let handles: Vec<_> = deques
            .enumerate()
            .map(|(i, w)| {
                let ctx = &ctx;
                s.spawn(move || ctx.run(i + 1, w))
            })
            .collect();
        // Join every worker explicitly, even when this one panicked, before
        // passing the panic on: no worker outlives the mark, and the join is
        // the happens-before edge (also for ThreadSanitizer).
        let first = catch_unwind(AssertUnwindSafe(|| ctx.run(0, first)));
        let rest: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        let mut outs = vec![first.unwrap_or_else(|p| resume_unwind(p))];
        for r in rest {
            outs.push(r.unwrap_or_else(|p| resume_unwind(p)));
        }
        outs
    });
    for o in outcomes {
        total += o;
    }
    total
}

struct Ctx<'a> {
    heap: &'a HeapInner,
    injector: &'a Injector<usize>,
    stealers: &'a [Stealer<usize>],
    idle: &'a AtomicUsize,
    /// Set by a worker that panicked (a bad pointer, a corrupt header), so
    /// the others stop instead of waiting for it to go idle.
    abort: &'a AtomicBool,
    workers: usize,
}

impl Ctx<'_> {
    fn steal(&self, me: usize, local: &Worker<usize>) -> Option<usize> {
        crate::gcwork::steal_into(self.injector, self.stealers, Some(me), local)
    }

    fn work_visible(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn run(&self, me: usize, local: Worker<usize>) -> MarkOutcome {
        match catch_unwind(AssertUnwindSafe(|| self.drain(me, local))) {
            Ok(out) => out,
            Err(payload) => {
                self.abort.store(true, Ordering::SeqCst);
                resume_unwind(payload)
            }
        }
    }

    fn drain(&self, me: usize, local: Worker<usize>) -> MarkOutcome {
        let cpu0 = thread_cpu_time();
        let mut out = MarkOutcome::default();
        // What this worker shaded; moved into `out` when it returns.
        let mut tally = crate::gcwork::Tally::default();
        // Held only while this worker is busy: `take` returns `None` only
        // once the ring, the stack and the deque are empty.
        let mut ring = Prefetched::new();
        let mut stack = Vec::with_capacity(1024);
        let mut lk = Lookup::new(self.heap);
        let mut scanned = 0usize;
        loop {
            if self.abort.load(Ordering::Relaxed) {
                return out;
            }
            let refill = || local.pop().or_else(|| self.steal(me, &local));
            if let Some(obj) = ring.take(&mut stack, refill) {
                crate::gcwork::scan(&mut lk, obj, &mut stack, &mut tally);
                scanned += 1;
                if scanned % crate::gcwork::BALANCE_EVERY == 0 && local.is_empty() {
                    // Others steal only from the deque: refill it with the
                    // older half of the stack (every worker is running, so
                    // the rest is not stranded; gcwork module docs).
                    let n = stack.len();
                    for v in stack.drain(..n / 2) {
                        local.push(v);
                    }
                }
                continue;
            }
            self.idle.fetch_add(1, Ordering::SeqCst);
            let mut spins = 0u32;
            loop {
                if self.idle.load(Ordering::SeqCst) == self.workers
                    || self.abort.load(Ordering::Relaxed)
                {
                    out.cpu = thread_cpu_time().saturating_sub(cpu0);
                    out.live_bytes += tally.marked_bytes;
                    out.live_objects += tally.marked_objects;
                    return out;
                }
                if self.work_visible() {
                    self.idle.fetch_sub(1, Ordering::SeqCst);
                    break;
                }
                spins += 1;
                if spins < 100 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// CPU time consumed by the calling thread.
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
