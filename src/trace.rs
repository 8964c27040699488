//! What the collector needs to know about a Rust type to keep it in the
//! heap: where its members are ([`Trace`]), or that it has none ([`Data`]).
//!
//! A type's members are found in one of two ways, chosen once per type when
//! it is registered with a heap:
//!
//! - **a pointer bitmap** ([`Trace::pointer_words`] returns `true`): the
//!   member words sit at offsets that do not depend on the value (structs of
//!   members, arrays of members, nested such structs). The marker reads the
//!   bitmap and never calls back into Rust: the raw API's fast path.
//! - **a trace callback** (`pointer_words` returns `false`): which words
//!   are members depends on the value (an enum, an `Option` of a struct of
//!   members). The marker calls [`Trace::trace`] on the object, from a mark
//!   worker thread, while mutators run. `trace` only reads what cannot
//!   change after allocation (an enum's variant: the safe API never hands
//!   out `&mut` to an object) and the members themselves (atomic words).

use std::marker::PhantomData;

use crate::member::Member;

/// A type whose values can live in a tricolor heap: it tells the collector
/// where its [`Member`]s are.
///
/// Derive it: `#[derive(Trace)]` on a struct or enum whose fields are
/// members, arrays of members, other `Trace` types (laid out inline), and
/// plain data ([`Data`] types: numbers, `bool`, `char`, `String`, `Vec`s and
/// `Box`es of data, cells of data). The derive asks `Trace` of every field,
/// so a field whose members the collector could not see — a
/// `Vec<Member<T>>` (its buffer is outside the heap), a `HashMap` of
/// members, a `Gc` (an unrooted handle cannot be stored) — is a compile
/// error at the derive. A variable number of members goes in an
/// [`Array`](crate::Array) (a field `Member<Array<Member<T>>>`).
///
/// ```
/// use tricolor::{Member, Trace};
///
/// #[derive(Trace, Default)]
/// struct Node {
///     left: Member<Node>,
///     right: Member<Node>,
///     key: i64,
///     name: &'static str,
/// }
/// // Members at fixed offsets: the type gets a pointer bitmap.
/// let mut words = Vec::new();
/// assert!(Node::pointer_words(0, &mut words));
/// assert_eq!(words.len(), 2);
/// ```
///
/// Types with drop glue (a `String`, a `Vec`) are accepted by the derive;
/// allocating one needs `Send` as well, because its `Drop` runs on the
/// finalizer thread ([`Mutator::alloc`](crate::Mutator::alloc)).
///
/// # Safety
///
/// Implement it with the derive. A hand-written implementation must list,
/// in `pointer_words`, the word offset of every `Member` inside a value of
/// the type (or return `false`), make `trace` visit every one of them, set
/// `NO_MEMBERS` only for types that cannot hold one, and read nothing in
/// `trace` but the members and data that cannot change after allocation. A
/// member the collector is not told about is freed while still in use.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a tricolor heap: it does not implement `Trace`",
    label = "the collector cannot see the members of `{Self}`",
    note = "derive it with `#[derive(Trace)]`; a field holding members must itself be `Trace` and keep them inline: `Vec<Member<T>>`, maps of members and unrooted `Gc` handles cannot be fields"
)]
pub unsafe trait Trace: 'static {
    /// Whether no value of this type holds a member.
    const NO_MEMBERS: bool;

    /// Whether every member sits at a word offset that does not depend on
    /// the value: what [`pointer_words`](Trace::pointer_words) returns
    /// (checked when the type is registered). Such a type gets a pointer
    /// bitmap; any other is traced through [`trace`](Trace::trace), and
    /// stores into its members go through the barrier that decodes words
    /// (`Gc::set` picks the raw store that matches the descriptor).
    /// Default: `true`; an implementation whose `pointer_words` returns
    /// `false` must set it to `false`.
    const FIXED_MEMBERS: bool = true;

    /// Whether objects of this type ask to carry no header word
    /// (`TypeDescriptor::header_free` in the raw API): an object of a
    /// small type then takes only its own bytes (a node of two members, 16
    /// bytes instead of 24), and has no user bits ([`Gc::user_bits`]
    /// reads 0, [`Gc::try_set_user_bits`] refuses). Read only for the type
    /// of a heap object, never for its fields. `#[derive(Trace)]` sets it
    /// with `#[trace(header_free)]`. Default: `false`.
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    ///
    /// #[derive(Trace)]
    /// #[trace(header_free)]
    /// struct Node {
    ///     left: Member<Node>,
    ///     right: Member<Node>,
    /// }
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let leaf = m.alloc(Node { left: Member::null(), right: Member::null() });
    /// let leaf = leaf.get(&m);
    /// assert_eq!(leaf.user_bits(), 0, "no header, no user bits");
    /// assert!(leaf.try_set_user_bits(1).unwrap_err().is_header_free());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`Gc::user_bits`]: crate::Gc::user_bits
    /// [`Gc::try_set_user_bits`]: crate::Gc::try_set_user_bits
    const HEADER_FREE: bool = false;

    /// Appends to `out` the word offset, plus `base`, of every member of a
    /// value of this type; returns `false` if the offsets depend on the
    /// value (then `out` is left as it is, or partly filled, and ignored).
    fn pointer_words(base: u32, out: &mut Vec<u32>) -> bool;

    /// Visits every member of `self`.
    fn trace(&self, tracer: &mut Tracer<'_>);
}

/// A type that holds no member anywhere, not even behind a pointer: plain
/// data, which may sit in a [`Vec`] or a [`Box`] inside a heap object.
///
/// `#[derive(Data)]` implements it (and a member-free [`Trace`]) for a type
/// whose fields are all `Data`, checked by the derive.
///
/// ```
/// use tricolor::{Data, Member, Trace};
///
/// #[derive(Data, Clone, Copy)]
/// struct Point { x: f64, y: f64 }
///
/// #[derive(Trace)]
/// struct Polygon {
///     next: Member<Polygon>,
///     points: Vec<Point>, // fine: `Point` is `Data`
/// }
/// # let _ = Polygon { next: Member::null(), points: vec![Point { x: 0.0, y: 0.0 }] };
/// ```
///
/// # Safety
///
/// Implement it with the derive. By hand, only for a type that cannot hold
/// a [`Member`] (a foreign type with no type parameters, say).
#[diagnostic::on_unimplemented(
    message = "`{Self}` may hold members, so it cannot sit outside the object's inline words",
    label = "not plain data",
    note = "members must lie inline in the object, where the collector sees them: use a `Member` field (or an array of them, or a member to a `tricolor::Array` of them) instead of a `Vec`, `Box` or map of members; for plain data types, `#[derive(Data)]`"
)]
pub unsafe trait Data: Trace {}

/// Hands members to the collector: the argument of [`Trace::trace`].
pub struct Tracer<'a> {
    sink: Sink<'a>,
}

enum Sink<'a> {
    /// Marking (each non-null member's object) or listing the addresses the
    /// members hold.
    Visit(&'a mut dyn FnMut(usize)),
    /// Clearing every member (a value about to be dropped off the heap).
    Clear,
}

impl<'a> Tracer<'a> {
    /// A tracer that hands each member's address (0 for null) to `f`.
    pub(crate) fn new(f: &'a mut dyn FnMut(usize)) -> Tracer<'a> {
        Tracer {
            sink: Sink::Visit(f),
        }
    }

    pub(crate) fn clear() -> Tracer<'static> {
        Tracer { sink: Sink::Clear }
    }

    /// Reports one member: what a hand-written [`Trace::trace`] calls for
    /// each member it holds.
    ///
    /// ```
    /// use tricolor::{Member, Trace, Tracer};
    ///
    /// /// A hand-written equivalent of `#[derive(Trace)]` (prefer the derive).
    /// struct Pair { a: Member<Pair>, b: Member<Pair> }
    /// // SAFETY: both members are listed and visited; nothing else is read.
    /// unsafe impl Trace for Pair {
    ///     const NO_MEMBERS: bool = false;
    ///     fn pointer_words(base: u32, out: &mut Vec<u32>) -> bool {
    ///         out.extend([base, base + 1]);
    ///         true
    ///     }
    ///     fn trace(&self, t: &mut Tracer<'_>) {
    ///         t.visit(&self.a);
    ///         t.visit(&self.b);
    ///     }
    /// }
    /// # assert_eq!(std::mem::offset_of!(Pair, b), 8);
    /// ```
    #[inline]
    pub fn visit<T>(&mut self, member: &Member<T>) {
        match &mut self.sink {
            Sink::Visit(f) => f(member.raw_load()),
            Sink::Clear => member.raw_clear(),
        }
    }
}

impl std::fmt::Debug for Tracer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

// ---- plain data ---------------------------------------------------------------

macro_rules! data {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: a primitive or a type with no type parameter that holds no
        // `Member`: nothing to list or visit.
        unsafe impl Trace for $t {
            const NO_MEMBERS: bool = true;
            #[inline]
            fn pointer_words(_base: u32, _out: &mut Vec<u32>) -> bool { true }
            #[inline]
            fn trace(&self, _tracer: &mut Tracer<'_>) {}
        }
        // SAFETY: as above.
        unsafe impl Data for $t {}
    )*};
}

data!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    std::time::Duration,
    std::time::Instant,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI8,
    std::sync::atomic::AtomicI16,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize,
);

macro_rules! data_container {
    ($($t:ident),* $(,)?) => {$(
        // SAFETY: the parameter is `Data`, so the container holds no member.
        unsafe impl<T: Data> Trace for $t<T> {
            const NO_MEMBERS: bool = true;
            #[inline]
            fn pointer_words(_base: u32, _out: &mut Vec<u32>) -> bool { true }
            #[inline]
            fn trace(&self, _tracer: &mut Tracer<'_>) {}
        }
        // SAFETY: as above.
        unsafe impl<T: Data> Data for $t<T> {}
    )*};
}

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
data_container!(Vec, Box, VecDeque, Cell, RefCell);

// SAFETY: a phantom holds nothing.
unsafe impl<T: 'static + ?Sized> Trace for PhantomData<T> {
    const NO_MEMBERS: bool = true;
    #[inline]
    fn pointer_words(_base: u32, _out: &mut Vec<u32>) -> bool {
        true
    }
    #[inline]
    fn trace(&self, _tracer: &mut Tracer<'_>) {}
}
// SAFETY: as above.
unsafe impl<T: 'static + ?Sized> Data for PhantomData<T> {}

// SAFETY: `Some` holds a `T`, whose members `T::trace` visits; where they
// are depends on the variant, so no bitmap unless `T` has none.
unsafe impl<T: Trace> Trace for Option<T> {
    const NO_MEMBERS: bool = T::NO_MEMBERS;
    const FIXED_MEMBERS: bool = T::NO_MEMBERS;
    #[inline]
    fn pointer_words(_base: u32, _out: &mut Vec<u32>) -> bool {
        T::NO_MEMBERS
    }
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(v) = self {
            v.trace(tracer);
        }
    }
}
// SAFETY: `Option` of data is data.
unsafe impl<T: Data> Data for Option<T> {}

// SAFETY: element `i` of the array starts at `i * size_of::<T>()`; a `T`
// holding members is word-aligned (a member is a word), so its size is a
// whole number of words and element `i`'s members are `T`'s, shifted by
// `i * size_of::<T>() / 8` words.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NO_MEMBERS: bool = T::NO_MEMBERS || N == 0;
    const FIXED_MEMBERS: bool = Self::NO_MEMBERS || T::FIXED_MEMBERS;
    #[inline]
    fn pointer_words(base: u32, out: &mut Vec<u32>) -> bool {
        if Self::NO_MEMBERS {
            return true;
        }
        let step = (std::mem::size_of::<T>() / 8) as u32;
        (0..N as u32).all(|i| T::pointer_words(base + i * step, out))
    }
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if !T::NO_MEMBERS {
            for v in self {
                v.trace(tracer);
            }
        }
    }
}
// SAFETY: an array of data is data.
unsafe impl<T: Data, const N: usize> Data for [T; N] {}

macro_rules! tuples {
    ($(($($n:tt $t:ident),+))*) => {$(
        // SAFETY: each element's members, shifted by the element's offset
        // (measured on a value, since tuples have no `offset_of!` by index
        // for generic elements).
        unsafe impl<$($t: Trace),+> Trace for ($($t,)+) {
            const NO_MEMBERS: bool = true $(&& $t::NO_MEMBERS)+;
            const FIXED_MEMBERS: bool = Self::NO_MEMBERS;
            fn pointer_words(_base: u32, _out: &mut Vec<u32>) -> bool {
                // The offsets of a tuple's fields are not known without a
                // value; trace it instead (rarely worth a bitmap).
                Self::NO_MEMBERS
            }
            #[inline]
            fn trace(&self, tracer: &mut Tracer<'_>) {
                $( if !$t::NO_MEMBERS { self.$n.trace(tracer); } )+
            }
        }
        // SAFETY: a tuple of data is data.
        unsafe impl<$($t: Data),+> Data for ($($t,)+) {}
    )*};
}

tuples! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
}
