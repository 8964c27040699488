//! Size classes and span classes.
//!
//! Small objects (up to [`MAX_SMALL_SIZE`] bytes) are rounded up to one of
//! [`NUM_SIZE_CLASSES`]` - 1` size classes; class 0 stands for "large" (an object
//! with a span of its own). Each class has a fixed span size in pages, chosen so
//! that the tail a span cannot use is at most 1/8 of the span.
//!
//! The table is Go's (`runtime/sizeclasses.go`, public data). It is not trusted
//! blindly: the test `table_matches_generator` re-derives it from the generator's
//! rules (alignment steps, the 1/8 tail rule, merging of classes that pack the
//! same number of objects into the same span, and the final widening step), and
//! `waste_bounds` checks the waste each class can cause.
//!
//! The interior-pointer → object-index division uses a precomputed reciprocal
//! ([`SizeClass::div_mul`]), exact for every offset inside a span of the class
//! (checked exhaustively by `div_magic_is_exact`).

/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: usize = 13;
/// The allocator's page: 8 KiB. Spans are whole numbers of pages.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// The largest object size served by a size class; larger objects get a span
/// of their own.
pub const MAX_SMALL_SIZE: usize = 32 << 10;
/// Number of size classes, counting the "large" class 0.
pub const NUM_SIZE_CLASSES: usize = 68;
/// Number of shared span classes: every size class in a scan and a noscan
/// flavour.
pub const NUM_SPAN_CLASSES: usize = NUM_SIZE_CLASSES * 2;
/// Number of own span classes a heap can hand out
/// ([`PageHeap::own_class`](crate::PageHeap::own_class)): span classes
/// whose spans hold the objects of one owner (one type of a collector)
/// and nothing else.
pub const NUM_OWN_CLASSES: usize = 64;
/// Length of per-span-class arrays: the shared classes, then the own
/// classes ([`SpanClass::index`]).
pub const ALL_SPAN_CLASSES: usize = NUM_SPAN_CLASSES + NUM_OWN_CLASSES;
/// The most objects any small span holds (8-byte class in one page).
pub const MAX_OBJECTS_PER_SPAN: usize = PAGE_SIZE / 8;

/// Object size of each class in bytes; entry 0 is the large class.
pub(crate) const CLASS_TO_SIZE: [u32; NUM_SIZE_CLASSES] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Span size of each class in pages; entry 0 is the large class.
pub(crate) const CLASS_TO_NPAGES: [u8; NUM_SIZE_CLASSES] = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8,
    3, 10, 7, 4,
];

const SMALL_SIZE_DIV: usize = 8;
const SMALL_SIZE_MAX: usize = 1024;
const LARGE_SIZE_DIV: usize = 128;

/// size → class for sizes up to 1016 bytes, indexed by `ceil(size / 8)`.
static SIZE_TO_CLASS8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = build_lookup::<129>(0, 8);
/// size → class for sizes above 1016 bytes, indexed by `ceil((size - 1024) / 128)`.
static SIZE_TO_CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] =
    build_lookup::<249>(SMALL_SIZE_MAX, LARGE_SIZE_DIV);

const fn build_lookup<const N: usize>(origin: usize, step: usize) -> [u8; N] {
    let mut table = [0u8; N];
    let mut i = 0;
    let mut class = 1;
    while i < N {
        let size = origin + i * step;
        while (CLASS_TO_SIZE[class] as usize) < size {
            class += 1;
        }
        table[i] = class as u8;
        i += 1;
    }
    table
}

/// A size class: an index into the size-class table. Class 0 means "large".
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SizeClass(u8);

impl SizeClass {
    /// The class of objects that get a span of their own.
    pub const LARGE: SizeClass = SizeClass(0);

    /// The class `n`; `None` if there is no such class.
    pub fn new(n: usize) -> Option<SizeClass> {
        (n < NUM_SIZE_CLASSES).then_some(SizeClass(n as u8))
    }

    /// The smallest class whose objects hold `size` bytes, or `None` when
    /// `size` is 0 or larger than [`MAX_SMALL_SIZE`].
    #[inline]
    pub fn for_size(size: usize) -> Option<SizeClass> {
        if size == 0 || size > MAX_SMALL_SIZE {
            return None;
        }
        Some(SizeClass(size_to_class_unchecked(size)))
    }

    /// This class's index in the table.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// Object size in bytes (0 for the large class).
    #[inline]
    pub fn size(self) -> usize {
        CLASS_TO_SIZE[self.0 as usize] as usize
    }

    /// Span size in pages (0 for the large class, whose spans vary).
    #[inline]
    pub fn npages(self) -> usize {
        CLASS_TO_NPAGES[self.0 as usize] as usize
    }

    /// Objects per span (0 for the large class).
    pub fn objects_per_span(self) -> usize {
        match self.size() {
            0 => 0,
            size => self.npages() * PAGE_SIZE / size,
        }
    }

    /// The reciprocal used to divide an offset inside a span by the object
    /// size: `offset / size == (offset * div_mul) >> 32` for every offset
    /// inside a span of this class. 0 for the large class (one object per span).
    pub fn div_mul(self) -> u32 {
        match self.size() {
            0 => 0,
            size => (u32::MAX / size as u32).wrapping_add(1),
        }
    }

    /// A class from the lookup tables, which hold only valid classes.
    #[inline(always)]
    pub(crate) const fn from_raw(n: u8) -> SizeClass {
        debug_assert!((n as usize) < NUM_SIZE_CLASSES);
        SizeClass(n)
    }

    /// Iterates over every small class (1 ..= 67).
    pub fn all_small() -> impl Iterator<Item = SizeClass> {
        (1..NUM_SIZE_CLASSES).map(|n| SizeClass(n as u8))
    }
}

/// Class lookup for `1 ..= MAX_SMALL_SIZE`; two table reads, no division.
#[inline(always)]
pub(crate) fn size_to_class_unchecked(size: usize) -> u8 {
    debug_assert!(size > 0 && size <= MAX_SMALL_SIZE);
    if size <= SMALL_SIZE_MAX - 8 {
        SIZE_TO_CLASS8[size.div_ceil(SMALL_SIZE_DIV)]
    } else {
        // ceil((size - 1024) / 128), written so sizes 1017..=1023 give 0.
        SIZE_TO_CLASS128[(size + LARGE_SIZE_DIV - 1 - SMALL_SIZE_MAX) / LARGE_SIZE_DIV]
    }
}

/// The bytes an allocation of `size` bytes occupies in the heap: its size
/// class's slot size for small objects, whole pages for large ones (0 for
/// `size == 0`). This is the unit every byte count of the heap uses (the
/// sweeper frees slots, the marker marks slots), so a client that accounts
/// for its own allocation should count this rather than `size`.
///
/// ```
/// use tricolor_allocator::{slot_size, PAGE_SIZE};
///
/// assert_eq!(slot_size(24), 24); // a size class of its own
/// assert_eq!(slot_size(40), 48); // rounded up to the next class
/// assert_eq!(slot_size(40_000), 40_000usize.div_ceil(PAGE_SIZE) * PAGE_SIZE);
/// ```
#[inline]
pub fn slot_size(size: usize) -> usize {
    match SizeClass::for_size(size) {
        Some(class) => class.size(),
        None => size.div_ceil(PAGE_SIZE) * PAGE_SIZE,
    }
}

/// Whether the objects of a span may contain pointers.
///
/// Objects that hold no pointers live in *noscan* spans, which the marker
/// never scans.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// The object may contain pointers: the marker scans it.
    Scan,
    /// The object contains no pointers: the marker never looks inside it.
    NoScan,
}

/// A span class: a size class in its scan or noscan flavour (Go's
/// `spanClass`), shared by every object of that size and kind, or an *own*
/// class: a separate set of spans of a size class that hold one owner's
/// objects only ([`PageHeap::own_class`](crate::PageHeap::own_class); a
/// collector gives one to a type whose objects carry no header, and reads
/// the type from the span).
///
/// Encoded as `size_class << 9 | noscan << 8 | index`, where `index` is
/// the class's place in arrays of [`ALL_SPAN_CLASSES`] entries
/// ([`index`](Self::index)): `size_class << 1 | noscan` for a shared class,
/// [`NUM_SPAN_CLASSES`]` + n - 1` for own class `n`. Every query is one or
/// two instructions on the allocation fast path.
#[doc(alias = "spanClass")]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanClass(u16);

// The index fits in the low byte, the size class in the top seven bits.
const _: () = assert!(ALL_SPAN_CLASSES <= 256 && NUM_SIZE_CLASSES <= 128);

impl SpanClass {
    /// The shared span class for objects of `class` and `kind`.
    #[inline]
    pub fn new(class: SizeClass, kind: ObjectKind) -> SpanClass {
        let noscan = (kind == ObjectKind::NoScan) as u16;
        Self::encode(class, noscan, (class.0 as u16) << 1 | noscan)
    }

    /// Own class number `own` (1 ..= [`NUM_OWN_CLASSES`]) for objects of
    /// `class` and `kind`.
    pub(crate) fn new_own(class: SizeClass, kind: ObjectKind, own: usize) -> SpanClass {
        debug_assert!((1..=NUM_OWN_CLASSES).contains(&own));
        let noscan = (kind == ObjectKind::NoScan) as u16;
        Self::encode(class, noscan, (NUM_SPAN_CLASSES + own - 1) as u16)
    }

    #[inline]
    fn encode(class: SizeClass, noscan: u16, index: u16) -> SpanClass {
        SpanClass((class.0 as u16) << 9 | noscan << 8 | index)
    }

    /// Decodes the raw value kept in a span.
    pub(crate) fn from_raw(raw: u16) -> SpanClass {
        SpanClass(raw)
    }

    /// The raw value, for a span to keep.
    pub(crate) fn raw(self) -> u16 {
        self.0
    }

    /// Index into per-span-class arrays (`0 .. ALL_SPAN_CLASSES`): the
    /// shared classes are `0 .. NUM_SPAN_CLASSES`, own class `n` is
    /// `NUM_SPAN_CLASSES + n - 1`.
    #[inline]
    pub fn index(self) -> usize {
        (self.0 as u8) as usize
    }

    /// Whether this is an own class ([`own`](Self::own) is `Some`): one
    /// comparison.
    #[inline]
    pub fn is_own(self) -> bool {
        self.index() >= NUM_SPAN_CLASSES
    }

    /// The own class number (1 ..= [`NUM_OWN_CLASSES`]), or `None` for a
    /// shared class.
    #[inline]
    pub fn own(self) -> Option<usize> {
        self.index().checked_sub(NUM_SPAN_CLASSES).map(|n| n + 1)
    }

    /// The size class.
    #[inline]
    pub fn size_class(self) -> SizeClass {
        SizeClass((self.0 >> 9) as u8)
    }

    /// Whether objects of this span class hold no pointers.
    #[inline]
    pub fn is_noscan(self) -> bool {
        self.0 >> 8 & 1 == 1
    }

    /// Scan or noscan.
    pub fn kind(self) -> ObjectKind {
        if self.is_noscan() {
            ObjectKind::NoScan
        } else {
            ObjectKind::Scan
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's generator (`mksizeclasses.go`), restated: walk sizes in steps of an
    /// alignment that grows with the size, give each size the fewest pages that
    /// leave at most 1/8 of the span as tail, merge a size into the previous
    /// class when both pack the same number of objects into the same pages, and
    /// finally widen each class to the largest 128-aligned size that still packs
    /// the same count.
    fn generate() -> Vec<(usize, usize)> {
        let mut classes: Vec<(usize, usize)> = vec![(0, 0)];
        let mut align = 8;
        let mut size = align;
        while size <= MAX_SMALL_SIZE {
            if size.is_power_of_two() {
                if size >= 2048 {
                    align = 256;
                } else if size >= 128 {
                    align = size / 8;
                } else if size >= 32 {
                    align = 16;
                }
            }
            let mut alloc = PAGE_SIZE;
            while alloc % size > alloc / 8 {
                alloc += PAGE_SIZE;
            }
            let npages = alloc / PAGE_SIZE;
            let last = *classes.last().unwrap();
            if classes.len() > 1 && npages == last.1 && alloc / size == alloc / last.0 {
                classes.last_mut().unwrap().0 = size;
            } else {
                classes.push((size, npages));
            }
            size += align;
        }
        for c in classes.iter_mut().skip(1) {
            let span = c.1 * PAGE_SIZE;
            let widened = (span / (span / c.0)) & !(LARGE_SIZE_DIV - 1);
            if widened > c.0 {
                c.0 = widened;
            }
        }
        classes
    }

    #[test]
    fn table_matches_generator() {
        let generated = generate();
        assert_eq!(generated.len(), NUM_SIZE_CLASSES);
        for (i, &(size, npages)) in generated.iter().enumerate() {
            assert_eq!(CLASS_TO_SIZE[i] as usize, size, "class {i} size");
            assert_eq!(CLASS_TO_NPAGES[i] as usize, npages, "class {i} pages");
        }
    }

    /// The waste a class can cause, per span:
    /// - tail: bytes at the end of the span no object fits in;
    /// - rounding: a request one byte above the previous class gets this class.
    ///
    /// Proven bounds: the tail never exceeds 1/8 of the span (the rule Go's
    /// generator enforces and the "12.5%" usually quoted for it). Rounding plus
    /// tail together (Go's "max waste" column) stays under 16.7% for every class
    /// of 128 bytes or more; below 128 bytes the 8- and 16-byte alignment
    /// quantum dominates (an 9-byte request in a 16-byte slot), and the bound is
    /// that a slot is at most one quantum larger than the request.
    #[test]
    fn waste_bounds() {
        for class in SizeClass::all_small() {
            let size = class.size();
            let span = class.npages() * PAGE_SIZE;
            let objects = span / size;
            let tail = span - objects * size;
            assert!(tail * 8 <= span, "class {} tail {tail} of {span}", class.0);

            let prev = CLASS_TO_SIZE[class.index() - 1] as usize;
            let worst_request = prev + 1;
            let rounding = size - worst_request;
            let total = (rounding * objects + tail) as f64 / span as f64;
            if size >= 128 {
                assert!(total < 0.167, "class {} total waste {total:.4}", class.0);
            } else {
                let quantum = if size > 32 { 16 } else { 8 };
                assert!(size - prev <= quantum, "class {} step", class.0);
            }
            assert!(size % 8 == 0, "class {} not 8-aligned", class.0);
        }
    }

    #[test]
    fn lookup_gives_smallest_fitting_class() {
        for size in 1..=MAX_SMALL_SIZE {
            let class = SizeClass::for_size(size).unwrap();
            assert!(class.size() >= size, "size {size}");
            let prev = CLASS_TO_SIZE[class.index() - 1] as usize;
            assert!(prev < size, "size {size} could use class {}", class.0 - 1);
        }
        assert_eq!(SizeClass::for_size(0), None);
        assert_eq!(SizeClass::for_size(MAX_SMALL_SIZE + 1), None);
    }

    #[test]
    fn div_magic_is_exact() {
        for class in SizeClass::all_small() {
            let size = class.size();
            let mul = class.div_mul() as u64;
            let span = class.npages() * PAGE_SIZE;
            for offset in 0..span {
                let q = ((offset as u64 * mul) >> 32) as usize;
                assert_eq!(q, offset / size, "class {} offset {offset}", class.0);
            }
        }
    }

    #[test]
    fn span_class_round_trips() {
        for class in SizeClass::all_small().chain([SizeClass::LARGE]) {
            for kind in [ObjectKind::Scan, ObjectKind::NoScan] {
                let spc = SpanClass::new(class, kind);
                assert_eq!(spc.size_class(), class);
                assert_eq!(spc.kind(), kind);
                assert!(spc.index() < NUM_SPAN_CLASSES);
                assert_eq!(spc.own(), None);
                for own in [1, NUM_OWN_CLASSES] {
                    let spc = SpanClass::new_own(class, kind, own);
                    assert_eq!((spc.size_class(), spc.kind()), (class, kind));
                    assert_eq!(spc.own(), Some(own));
                    assert_eq!(spc.index(), NUM_SPAN_CLASSES + own - 1);
                    assert_eq!(SpanClass::from_raw(spc.raw()), spc);
                }
            }
        }
        assert!(SizeClass::all_small().all(|c| c.objects_per_span() <= MAX_OBJECTS_PER_SPAN));
    }
}
