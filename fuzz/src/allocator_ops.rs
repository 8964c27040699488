//! The `allocator_ops` fuzz target: bytes in, a program of allocator
//! operations out, run against a model that checks what a collector relies on.
//!
//! This file has no dependency on libFuzzer. The cargo-fuzz target
//! (`fuzz/fuzz_targets/allocator_ops.rs`) calls [`run`] on every input, and
//! `allocator/tests/fuzz_corpus.rs` includes the file with `#[path]` and runs
//! the checked-in corpus (`fuzz/corpus/allocator_ops/`) in `cargo test`.
//!
//! It checks the properties of `allocator/tests/model.rs`, and a few more:
//!
//! - every new object is zeroed (the whole slot), 8-aligned and aligned to the
//!   largest power of two dividing its slot size (up to a page), has the slot
//!   size of its size class (or whole pages when large), and lies in a span of
//!   the kind asked for;
//! - `find_object` maps the base and interior addresses of every new object
//!   back to it, and the base of every live object after each operation other
//!   than an allocation;
//! - no two live objects overlap, and every live object still holds the words
//!   written into it (nothing was freed or handed out twice);
//! - `sweep_one` finds nothing to sweep only once the cycle is fully swept;
//! - accounting: once sweeping is done and every cache has flushed, the live
//!   objects and bytes in the statistics equal the model's exactly (and are
//!   never below it); `committed = in use + idle`; `PageHeap::verify` holds;
//! - with poisoning on, every word written into an object that died reads as
//!   the poison pattern (or zero, once scavenged) after the sweep, unless a live
//!   object now covers it;
//! - at the end, a cycle that keeps nothing empties the heap: no live objects,
//!   no spans in use, one free run per arena; a full scavenge then makes the
//!   old objects read as zero.
//!
//! # Input format
//!
//! The first byte configures the heap: bit 0 turns poisoning on, bit 1 uses
//! three caches instead of two, bits 2–3 pick the commit chunk (1 MiB, 8 KiB,
//! 64 KiB, 256 KiB), bit 4 lowers the largest object size to 128 KiB.
//!
//! Then come operations, each an opcode byte `b` followed by operands (missing
//! operand bytes read as zero; the program ends with the input). `b % 32`
//! selects the operation and `b / 32` (0–7) the cache it uses:
//!
//! | `b % 32` | operation | operands |
//! |---|---|---|
//! | 0–17 | allocate through a cache | size (3 bytes, see [`decode_size`]) |
//! | 18 | allocate a large object with `PageHeap::alloc_large` | flags, `u16` size |
//! | 19–20 | a collection cycle: `finish_sweep`, mark a subset, `release_all` on every cache, `start_sweep_cycle`, `sweep_one` × n | keep, `u16` seed, n |
//! | 21 | start marking and leave it open: later allocations are marked ("allocate black") until the next cycle finishes it | keep, `u16` seed |
//! | 22–23 | `sweep_one` × n | n |
//! | 24–25 | `scavenge(retain)` | retain in pages |
//! | 26–27 | `flush_stats` on one cache, or on all | — |
//! | 28 | `release_all` on one cache | — |
//! | 29 | drop one cache and make a new one | — |
//! | 30–31 | a burst of allocations of one size through one cache | count, size (3 bytes) |
//!
//! A subset is chosen by `keep`: 0 keeps nothing, 255 everything, otherwise
//! each object is kept with probability `keep / 255`, drawn from the seed.
//!
//! Work is bounded so each input runs quickly: at most [`MAX_OPS`] operations,
//! [`MAX_OBJECTS`] allocations and [`MAX_ALLOC_BYTES`] of slots; allocations
//! past a bound are skipped.
//!
//! Set `ALLOCATOR_OPS_TRACE=1` to print each operation as it runs.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::Arc;

use tricolor_allocator::{
    AllocError, Cache, Config, ObjectKind, PageHeap, SizeClass, ARENA_SIZE, MAX_SMALL_SIZE,
    NUM_SIZE_CLASSES, PAGE_SIZE, POISON_WORD,
};
use tricolor_testkit::Rng;

/// Most operations decoded from one input.
const MAX_OPS: usize = 500;
/// Most allocations per input (bursts count each object).
const MAX_OBJECTS: usize = 2048;
/// Most bytes of slots allocated per input.
const MAX_ALLOC_BYTES: usize = 64 << 20;
/// Largest object size drawn.
const MAX_LARGE: usize = 256 << 10;
/// `Config::max_object_size` when the header asks for a limited one.
const LIMITED_MAX_OBJECT: usize = 128 << 10;

/// Sizes at and around the edges of the size-class table and the page size.
const EDGE_SIZES: [usize; 32] = [
    1,
    7,
    8,
    9,
    15,
    16,
    17,
    24,
    31,
    32,
    33,
    48,
    64,
    128,
    1016,
    1024,
    1025,
    1152,
    2048,
    4096,
    8191,
    8192,
    8193,
    10240,
    16384,
    27264,
    28672,
    MAX_SMALL_SIZE - 1,
    MAX_SMALL_SIZE,
    MAX_SMALL_SIZE + 1,
    64 << 10,
    MAX_LARGE,
];

/// Runs the program encoded in `data`, panicking on the first violated property.
pub fn run(data: &[u8]) {
    let mut input = Input(data);
    let Some(header) = input.next() else {
        return;
    };
    let mut fuzz = Fuzz::new(header);
    let mut ops = 0;
    while ops < MAX_OPS {
        let Some(b) = input.next() else {
            break;
        };
        ops += 1;
        fuzz.step = ops;
        let allocating = fuzz.op(b, &mut input);
        // Stamps after every operation; the address lookups of every live
        // object (the new ones are looked up as they are made) after the
        // operations that do not allocate, to keep each input fast.
        fuzz.check_live(!allocating);
        fuzz.settle_dead();
    }
    fuzz.finish();
}

/// The undecoded rest of the input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// The next byte, or 0 once the input is used up.
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
}

/// Decodes a size and kind from three bytes: `t` (bits 0–3 the tier, bit 4
/// noscan, bits 5–7 extra bits) and a little-endian `u16` `v`.
///
/// Tiers: 0–7 tiny (1–256), 8–10 small (1–1024), 11–12 medium (1025–32 KiB),
/// 13 an edge size, 14 a size-class size or one off it, 15 large (32 KiB + 1
/// up to 256 KiB).
fn decode_size(input: &mut Input<'_>) -> (usize, ObjectKind) {
    let t = input.byte();
    let v = input.u16() as usize;
    let hi = (t >> 5) as usize;
    let kind = if t & 0x10 != 0 {
        ObjectKind::NoScan
    } else {
        ObjectKind::Scan
    };
    let size = match t & 0x0f {
        0..=7 => 1 + v % 256,
        8..=10 => 1 + v % 1024,
        11..=12 => 1025 + v % (MAX_SMALL_SIZE - 1024),
        13 => EDGE_SIZES[(v + hi) % EDGE_SIZES.len()],
        14 => {
            let class = SizeClass::new(1 + v % (NUM_SIZE_CLASSES - 1)).expect("a small class");
            let c = class.size();
            match hi % 4 {
                0 => c,
                1 => c - 1,
                2 => c + 1,
                _ => c / 2 + 1,
            }
        }
        _ => MAX_SMALL_SIZE + 1 + ((v << 3) | hi) % (MAX_LARGE - MAX_SMALL_SIZE),
    };
    (size.max(1), kind)
}

/// Whether a cycle keeps an object: `keep` 0 keeps nothing and 255
/// everything, without drawing; otherwise with probability `keep / 255`,
/// drawn from `rng` (the testkit's SplitMix64, which the seed in the input
/// starts: a given input always keeps the same subset).
fn keeps(rng: &mut Rng, keep: u8) -> bool {
    match keep {
        0 => false,
        255 => true,
        k => rng.chance(k as u64, 255),
    }
}

/// A live object in the model.
#[derive(Clone, Debug)]
struct Obj {
    /// Bytes requested.
    size: usize,
    /// Slot size reported by the heap.
    slot: usize,
    /// Unique, starting at 1.
    tag: u64,
}

impl Obj {
    /// The words written into the object: (word index, value). The first and
    /// last word of the requested size, and the last word of the slot (some
    /// may coincide). A value holds the tag in its high half and the word
    /// index in its low half: never zero, never the poison pattern.
    fn stamp_words(&self) -> [(usize, u64); 3] {
        let requested_words = (self.size.max(8) & !7) / 8;
        [0, requested_words - 1, self.slot / 8 - 1].map(|i| (i, self.tag << 32 | i as u64))
    }
}

/// Whether every byte is zero. Compares against a block of zeros, which is a
/// `memcmp` per block: a loop over the bytes would be instrumented per
/// comparison when fuzzing, and that dominated the run time.
fn is_zero(bytes: &[u8]) -> bool {
    static ZEROS: [u8; 16 << 10] = [0; 16 << 10];
    bytes.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

fn read_word(addr: usize) -> u64 {
    // SAFETY: callers pass 8-aligned addresses inside committed heap memory:
    // a live object's slot, or a slot of a dead object whose arena is still
    // committed (arenas are only released when the heap is dropped).
    unsafe { (addr as *const u64).read() }
}

fn write_word(addr: usize, value: u64) {
    // SAFETY: callers pass 8-aligned addresses inside a live object's slot,
    // which the model owns.
    unsafe { (addr as *mut u64).write(value) }
}

struct Fuzz {
    heap: Arc<PageHeap>,
    caches: Vec<Cache>,
    /// Per cache: whether it allocated small objects since it last flushed
    /// or released (so the statistics may not count them yet).
    unflushed: Vec<bool>,
    poison: bool,
    /// Live objects and their base addresses.
    live: Vec<(usize, Obj)>,
    /// Base address → index in `live`, for overlap queries.
    by_addr: BTreeMap<usize, usize>,
    /// Objects dropped at the last mark, to check for poison once swept.
    dead: Vec<(usize, Obj)>,
    /// Marking is open: new objects must be marked.
    marking: bool,
    next_tag: u64,
    objects: usize,
    bytes: usize,
    /// The operation being run (1-based), for messages.
    step: usize,
    trace: bool,
}

impl Fuzz {
    fn new(header: u8) -> Fuzz {
        let poison = header & 1 != 0;
        let ncaches = if header & 2 != 0 { 3 } else { 2 };
        let commit_chunk = [1 << 20, PAGE_SIZE, 64 << 10, 256 << 10][(header >> 2 & 3) as usize];
        let mut config = Config {
            poison,
            commit_chunk,
            ..Config::default()
        };
        if header & 0x10 != 0 {
            config.max_object_size = LIMITED_MAX_OBJECT;
        }
        let trace = std::env::var_os("ALLOCATOR_OPS_TRACE").is_some();
        if trace {
            eprintln!("config: {config:?}, {ncaches} caches");
        }
        let heap = PageHeap::new(config);
        Fuzz {
            caches: (0..ncaches).map(|_| Cache::new(heap.clone())).collect(),
            unflushed: vec![false; ncaches],
            heap,
            poison,
            live: Vec::new(),
            by_addr: BTreeMap::new(),
            dead: Vec::new(),
            marking: false,
            next_tag: 1,
            objects: 0,
            bytes: 0,
            step: 0,
            trace,
        }
    }

    fn trace(&self, what: std::fmt::Arguments<'_>) {
        if self.trace {
            eprintln!("op {}: {what}", self.step);
        }
    }

    /// Runs one operation; returns whether it was an allocation.
    fn op(&mut self, b: u8, input: &mut Input<'_>) -> bool {
        let arg = (b / 32) as usize;
        let cache = arg % self.caches.len();
        let kind = b % 32;
        match kind {
            0..=17 => {
                let (size, object_kind) = decode_size(input);
                self.trace(format_args!(
                    "alloc {size} {object_kind:?} via cache {cache}"
                ));
                self.alloc(Some(cache), size, object_kind);
            }
            18 => {
                let t = input.byte();
                let size = 1 + ((input.u16() as usize) << 3 | arg) % MAX_LARGE;
                let object_kind = if t & 1 != 0 {
                    ObjectKind::NoScan
                } else {
                    ObjectKind::Scan
                };
                self.trace(format_args!("alloc_large {size} {object_kind:?}"));
                self.alloc(None, size, object_kind);
            }
            19..=20 => {
                let (keep, seed, sweep_now) = (input.byte(), input.u16(), input.byte());
                self.trace(format_args!(
                    "cycle keep {keep} seed {seed} sweep_one x{sweep_now}{}",
                    if self.marking {
                        " (ends the open mark)"
                    } else {
                        ""
                    }
                ));
                if !self.marking {
                    self.mark_start(keep, seed);
                }
                self.mark_end(sweep_now);
            }
            21 => {
                let (keep, seed) = (input.byte(), input.u16());
                if self.marking {
                    self.trace(format_args!("mark start (already marking: nothing)"));
                } else {
                    self.trace(format_args!("mark start keep {keep} seed {seed}"));
                    self.mark_start(keep, seed);
                }
            }
            22..=23 => {
                let n = input.byte();
                self.trace(format_args!("sweep_one x{n}"));
                self.sweep(n);
            }
            24..=25 => {
                let retain = input.byte() as usize * PAGE_SIZE;
                self.trace(format_args!("scavenge retain {retain}"));
                self.heap.scavenge(retain);
                let stats = self.heap.stats();
                assert!(
                    stats.idle_dirty_bytes <= retain,
                    "op {}: scavenge({retain}) left {} idle dirty bytes",
                    self.step,
                    stats.idle_dirty_bytes
                );
                self.check_heap();
            }
            26..=27 => {
                if arg % (self.caches.len() + 1) == self.caches.len() {
                    self.trace(format_args!("flush_stats on every cache"));
                    for c in &mut self.caches {
                        c.flush_stats();
                    }
                    self.unflushed.fill(false);
                } else {
                    self.trace(format_args!("flush_stats on cache {cache}"));
                    self.caches[cache].flush_stats();
                    self.unflushed[cache] = false;
                }
                self.check_stats();
            }
            28 => {
                self.trace(format_args!("release_all on cache {cache}"));
                self.caches[cache].release_all();
                assert_eq!(self.caches[cache].cached_spans(), 0);
                self.unflushed[cache] = false;
                self.check_stats();
            }
            29 => {
                self.trace(format_args!("replace cache {cache}"));
                self.caches[cache] = Cache::new(self.heap.clone());
                self.unflushed[cache] = false;
                self.check_stats();
                self.check_heap();
            }
            _ => {
                let count = 1 + input.byte() as usize % 64;
                let (size, object_kind) = decode_size(input);
                self.trace(format_args!(
                    "alloc {count} x {size} {object_kind:?} via cache {cache}"
                ));
                for _ in 0..count {
                    self.alloc(Some(cache), size, object_kind);
                }
            }
        }
        matches!(kind, 0..=18 | 30..=31)
    }

    /// Allocates through cache `cache`, or with `alloc_large` when `None`,
    /// checks the new object and adds it to the model.
    fn alloc(&mut self, cache: Option<usize>, size: usize, kind: ObjectKind) {
        let expected_slot = match SizeClass::for_size(size) {
            Some(class) if cache.is_some() => class.size(),
            _ => size.div_ceil(PAGE_SIZE) * PAGE_SIZE,
        };
        if self.objects >= MAX_OBJECTS || self.bytes + expected_slot > MAX_ALLOC_BYTES {
            return;
        }
        self.objects += 1;
        self.bytes += expected_slot;
        let result = match cache {
            Some(c) => self.caches[c].alloc(size, kind),
            None => self.heap.alloc_large(size, kind),
        };
        let limit = self.heap.config().max_object_size;
        let ptr: NonNull<u8> = match result {
            Ok(ptr) => {
                assert!(
                    size <= limit,
                    "op {}: allocation of {size} bytes over the limit {limit} succeeded",
                    self.step
                );
                ptr
            }
            Err(AllocError::TooLarge { requested, .. }) if size > limit => {
                assert_eq!(requested, size);
                return;
            }
            Err(e) => panic!("op {}: allocation of {size} bytes failed: {e}", self.step),
        };
        if let Some(c) = cache {
            if size <= MAX_SMALL_SIZE {
                self.unflushed[c] = true;
            }
        }
        let addr = ptr.as_ptr() as usize;
        let step = self.step;
        let obj = self
            .heap
            .find_object(addr)
            .unwrap_or_else(|| panic!("op {step}: new object {addr:#x} not found"));
        assert_eq!(
            obj.base(),
            addr,
            "op {step}: new object does not start its slot"
        );
        let slot = obj.size();
        assert_eq!(
            slot, expected_slot,
            "op {step}: slot size for a {size}-byte object"
        );
        assert_eq!(
            obj.span().is_noscan(),
            kind == ObjectKind::NoScan,
            "op {step}: span kind"
        );
        assert_eq!(
            obj.span().is_large(),
            cache.is_none() || size > MAX_SMALL_SIZE,
            "op {step}: large span or not"
        );
        assert!(
            !obj.is_marked(),
            "op {step}: new object {addr:#x} is already marked"
        );
        let align = (slot & slot.wrapping_neg()).min(PAGE_SIZE);
        assert_eq!(addr % 8, 0, "op {step}: object {addr:#x} not 8-aligned");
        assert_eq!(
            addr % align,
            0,
            "op {step}: {slot}-byte slot at {addr:#x} misaligned"
        );
        // SAFETY: a new object of `slot` bytes, 8-aligned (checked above).
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, slot) };
        if !is_zero(bytes) {
            let i = bytes.iter().position(|&b| b != 0).expect("a non-zero byte") / 8;
            panic!(
                "op {step}: new {size}-byte object at {addr:#x} (slot {slot}) not zeroed: \
                 word {i} is {:#x}",
                read_word(addr + i * 8)
            );
        }
        let mut offsets = [
            0,
            size - 1,
            slot / 2,
            slot - 1,
            (self.next_tag as usize * 8) % slot,
        ];
        offsets.sort_unstable();
        for off in offsets {
            let inner = self.heap.find_object(addr + off);
            assert_eq!(
                inner.map(|o| (o.base(), o.size())),
                Some((addr, slot)),
                "op {step}: interior address {addr:#x} + {off} does not map to its object"
            );
        }
        // No live object overlaps the new one (the live ones are disjoint, so
        // the one starting last below its end is the only candidate).
        if let Some((&base, &i)) = self.by_addr.range(..addr + slot).next_back() {
            let other = &self.live[i].1;
            assert!(
                base + other.slot <= addr,
                "op {step}: new object [{addr:#x}, +{slot}) overlaps live object {} at \
                 [{base:#x}, +{}) (size {})",
                other.tag,
                other.slot,
                other.size
            );
        }
        if self.marking {
            assert!(
                self.heap.mark(addr),
                "op {step}: new object {addr:#x} was already marked"
            );
        }
        let o = Obj {
            size,
            slot,
            tag: self.next_tag,
        };
        self.next_tag += 1;
        for (i, value) in o.stamp_words() {
            write_word(addr + i * 8, value);
        }
        self.by_addr.insert(addr, self.live.len());
        self.live.push((addr, o));
    }

    /// Finishes the previous sweep, keeps a subset of the live objects and
    /// marks it; marking stays open until `mark_end`.
    fn mark_start(&mut self, keep: u8, seed: u16) {
        self.finish_sweep();
        self.settle_dead();
        self.check_stats();
        let mut rng = Rng::new(seed as u64);
        let step = self.step;
        self.by_addr.clear();
        for (addr, o) in std::mem::take(&mut self.live) {
            if keeps(&mut rng, keep) {
                assert!(
                    self.heap.mark(addr),
                    "op {step}: object {} at {addr:#x} was marked twice",
                    o.tag
                );
                self.by_addr.insert(addr, self.live.len());
                self.live.push((addr, o));
            } else {
                self.dead.push((addr, o));
            }
        }
        self.marking = true;
    }

    /// Ends marking: every cache releases its spans, the sweep generation
    /// advances, and `sweep_now` spans are swept at once.
    fn mark_end(&mut self, sweep_now: u8) {
        debug_assert!(self.marking);
        for c in &mut self.caches {
            c.release_all();
            assert_eq!(c.cached_spans(), 0);
        }
        self.unflushed.fill(false);
        self.heap.start_sweep_cycle();
        self.marking = false;
        self.sweep(sweep_now);
        self.check_stats();
        self.check_heap();
    }

    /// Calls `sweep_one` up to `n` times (once it finds nothing to sweep,
    /// further calls in this cycle would not either).
    fn sweep(&self, n: u8) {
        for _ in 0..n {
            if self.heap.sweep_one().is_none() {
                assert!(
                    self.heap.sweep_done(),
                    "op {}: sweep_one found nothing, but the cycle is not swept",
                    self.step
                );
                break;
            }
        }
    }

    /// Sweeps the rest of the cycle with `sweep_one`, checking that nothing
    /// is left unswept when it runs dry (`PageHeap::finish_sweep` would wait
    /// for such a span forever), then calls `finish_sweep`.
    fn finish_sweep(&self) {
        while self.heap.sweep_one().is_some() {}
        assert!(
            self.heap.sweep_done(),
            "op {}: sweep_one found nothing, but the cycle is not swept",
            self.step
        );
        self.heap.finish_sweep();
    }

    /// Every live object holds what was written into it and, if `lookup`, is
    /// still found at its address with its slot size.
    fn check_live(&self, lookup: bool) {
        for &(addr, ref o) in &self.live {
            if lookup {
                let found = self.heap.find_object(addr);
                assert_eq!(
                    found.map(|f| (f.base(), f.size())),
                    Some((addr, o.slot)),
                    "op {}: live object {} ({} bytes) at {addr:#x} no longer found",
                    self.step,
                    o.tag,
                    o.size
                );
            }
            for (i, value) in o.stamp_words() {
                let got = read_word(addr + i * 8);
                assert_eq!(
                    got, value,
                    "op {}: live object {} ({} bytes, slot {}) at {addr:#x} overwritten at \
                     word {i} (freed or handed out twice?)",
                    self.step, o.tag, o.size, o.slot
                );
            }
        }
    }

    /// Whether a live object covers `addr`.
    fn covered(&self, addr: usize) -> bool {
        self.by_addr
            .range(..=addr)
            .next_back()
            .is_some_and(|(&base, &i)| addr < base + self.live[i].1.slot)
    }

    /// Once the objects dropped at the last mark have been swept, checks that
    /// poisoning overwrote them (or that the scavenger zeroed them), wherever
    /// no live object now lies.
    fn settle_dead(&mut self) {
        if self.dead.is_empty() || self.marking || !self.heap.sweep_done() {
            return;
        }
        let dead = std::mem::take(&mut self.dead);
        if !self.poison {
            return;
        }
        for (addr, o) in &dead {
            for (i, _) in o.stamp_words() {
                let w = addr + i * 8;
                if self.covered(w) {
                    continue;
                }
                let got = read_word(w);
                assert!(
                    got == POISON_WORD || got == 0,
                    "op {}: dead object {} ({} bytes, slot {}) at {addr:#x} not poisoned \
                     after its sweep: word {i} is {got:#x}",
                    self.step,
                    o.tag,
                    o.size,
                    o.slot
                );
            }
        }
    }

    /// Statistics against the model: exact when every object is counted and
    /// every garbage object swept, bounds otherwise.
    fn check_stats(&self) {
        let stats = self.heap.stats();
        let step = self.step;
        assert_eq!(
            stats.committed_bytes,
            stats.in_use_bytes + stats.idle_bytes,
            "op {step}: committed != in use + idle"
        );
        assert!(
            stats.idle_dirty_bytes <= stats.idle_bytes,
            "op {step}: more idle dirty bytes than idle bytes"
        );
        let model_objects = self.live.len() as u64;
        let model_bytes: u64 = self.live.iter().map(|(_, o)| o.slot as u64).sum();
        assert!(
            stats.in_use_bytes as u64 >= model_bytes,
            "op {step}: {} bytes in use spans, but {model_bytes} in live objects",
            stats.in_use_bytes
        );
        if self.unflushed.iter().any(|&u| u) {
            return;
        }
        if !self.marking && self.heap.sweep_done() {
            assert_eq!(
                stats.heap_alloc_flushed_objects(),
                model_objects,
                "op {step}: live objects in the statistics"
            );
            assert_eq!(
                stats.heap_alloc_flushed_bytes(),
                model_bytes,
                "op {step}: live bytes in the statistics"
            );
        } else {
            assert!(
                stats.heap_alloc_flushed_objects() >= model_objects
                    && stats.heap_alloc_flushed_bytes() >= model_bytes,
                "op {step}: statistics count {} objects / {} bytes, fewer than the {} / {} live",
                stats.heap_alloc_flushed_objects(),
                stats.heap_alloc_flushed_bytes(),
                model_objects,
                model_bytes
            );
        }
    }

    fn check_heap(&self) {
        if let Err(e) = self.heap.verify() {
            panic!("op {}: heap.verify: {e}", self.step);
        }
    }

    /// End of the program: exact accounting, then a cycle that keeps nothing
    /// must empty the heap, and a full scavenge must leave it reading zero.
    fn finish(mut self) {
        self.step += 1;
        self.trace(format_args!("end"));
        if self.marking {
            self.mark_end(0);
        }
        self.finish_sweep();
        for c in &mut self.caches {
            c.flush_stats();
        }
        self.unflushed.fill(false);
        self.settle_dead();
        self.check_live(true);
        self.check_stats();

        let mut spans: Vec<(usize, usize)> = self.live.iter().map(|(a, o)| (*a, o.slot)).collect();
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(
                w[0].0 + w[0].1 <= w[1].0,
                "end: objects overlap at {:#x}",
                w[1].0
            );
        }
        self.check_heap();

        // Keep nothing: every span must go back to the page heap.
        self.mark_start(0, 0);
        self.mark_end(0);
        self.finish_sweep();
        let stats = self.heap.stats();
        assert_eq!(
            stats.heap_alloc_flushed_objects(),
            0,
            "end: objects left after a cycle keeping none"
        );
        assert_eq!(
            stats.heap_alloc_flushed_bytes(),
            0,
            "end: bytes left after a cycle keeping none"
        );
        assert_eq!(stats.spans_in_use, 0, "end: spans left in use");
        assert_eq!(stats.in_use_bytes, 0, "end: bytes left in use");
        assert_eq!(
            stats.free_runs,
            stats.reserved_bytes / ARENA_SIZE,
            "end: free pages not coalesced into one run per arena"
        );
        if self.poison {
            for (addr, o) in &self.dead {
                for (i, _) in o.stamp_words() {
                    let got = read_word(addr + i * 8);
                    assert_eq!(
                        got, POISON_WORD,
                        "end: object {} at {addr:#x} not poisoned at word {i}",
                        o.tag
                    );
                }
            }
        }
        let idle_dirty = stats.idle_dirty_bytes;
        let released = self.heap.scavenge(0);
        assert_eq!(released, idle_dirty, "end: scavenge(0) released");
        assert_eq!(self.heap.stats().idle_dirty_bytes, 0);
        for (addr, o) in &self.dead {
            for (i, _) in o.stamp_words() {
                let got = read_word(addr + i * 8);
                assert_eq!(
                    got, 0,
                    "end: object {} at {addr:#x} does not read zero after scavenge(0)",
                    o.tag
                );
            }
        }
        self.check_heap();
        self.caches.clear();
        self.check_heap();
    }
}
