//! The object layer: every Lox object, its layout in tricolor's heap, and
//! every access to object memory. The rest of the VM calls the safe
//! methods of [`Gc`]; all `unsafe` of the VM is here, in `roots` and in the
//! interpreter's stack and code cursors (`vm`).
//!
//! # The invariant the VM keeps
//!
//! Every `ObjRef` passed to a method of [`Gc`] is a live object of this
//! heap: reachable from the VM's roots (`roots::RootState`: the value
//! stack, the call frames, open upvalues, globals, the intern table, the
//! compiler's functions in progress, temporaries), or allocated or loaded
//! from a reachable object since the mutator's last safepoint. Allocation
//! is the only safepoint in this module besides [`Gc::safepoint`] and
//! [`Gc::collect`]; a method that allocates says so, and the VM roots what
//! it still needs before calling it. This is the invariant clox keeps with
//! its stack (and its `push`/`pop` around allocations). Where a method
//! takes an object of a given kind, the caller has checked the kind (or
//! the verified bytecode guarantees it, `verify`).
//!
//! # Layouts (words after the header)
//!
//! | type | shape | words |
//! |---|---|---|
//! | String | bytes, len = 8 + n | bytes 0..8: hash \| n << 32; then the bytes |
//! | Function | fixed 6, pointers 0–3 | name string (0 for the script), code, constants, lines, arity \| upvalues << 16 \| max stack << 32, the code's first byte's address |
//! | Code | bytes | the bytecode, verified (`verify`) |
//! | Lines | bytes, 4 per instruction byte | source line of each code byte |
//! | Constants | traced array of values | |
//! | Closure | array of pointers | 0: function; 1..: upvalues |
//! | Upvalue | traced, fixed 2 | 0: the closed value; 1: stack slot + 1 while open, 0 once closed |
//! | Class | fixed 5, pointers 0–2 | name, methods table, `init` closure (0: none), field hint \| shadowed << 32, method-name mask |
//! | Instance*N* | traced, fixed 3 + 2*N* | class, count \| *N* << 32, spill table (0: none), then *N* inline entries: key (a string value, 0 if empty), value |
//! | BoundMethod | fixed 2, pointers | receiver instance, method closure |
//! | Native | fixed 1, no pointers | the native's number |
//! | Table | traced array of 2-word entries | entry 0: count, capacity; entries 1..=capacity: key (a string value, 0 if empty), value (tombstone: key 0, value `true`) |
//! | Globals | traced array of values | a global's value by index, [`UNDEFINED`] before its definition |
//! | Intern | array of words, no pointer map, weak | string addresses; 0 empty, 1 tombstone; cleared by the collector when a string dies ([`WeakSlots`]) |
//!
//! # Instances: fields inline
//!
//! An instance keeps its fields in an open-addressed table inside itself
//! (no second object, no pointer to chase): one of several fixed-size
//! types, by the table's capacity *N* ([`INSTANCE_CAPS`]). Fixed-size
//! types take the allocator's inlined fast path, which array shapes do
//! not. The class remembers how many fields its instances got (its *field
//! hint*; the compiler seeds it with the number of distinct property names
//! the class body assigns), and a new instance gets the smallest capacity
//! that holds that many at a load of 3/4. Lox never deletes a field, so an
//! inline table has no tombstones and always an empty entry. An instance
//! that outgrows its table *spills*: its fields move to an ordinary table
//! object (capacity word 0 from then on, the inline entries cleared).
//!
//! A call `obj.name(...)` must look for a field `name` before a method,
//! and a miss in a table at a load of 3/4 probes several entries. The class
//! keeps a 64-bit mask of its methods' name hashes and a *shadowed* flag,
//! set when an instance gets a field named like one of its methods (the
//! mask filters the check on each new field); while the flag is clear, a
//! method `INVOKE` finds is the one to call, and fields are searched only
//! when there is no such method. A class's methods are all set before any
//! instance exists (the class body runs `METHOD` right after `CLASS`, and
//! `INHERIT` before both), so a later method cannot miss the check.

use tricolor::raw::{
    Edges, Heap, Mutator, ObjRef, ObjectView, Shape, TypeDescriptor, TypeId, WeakSlots,
};

use crate::value::{decode, Value};

/// Inline field-table capacities of the instance types.
pub const INSTANCE_CAPS: [usize; 7] = [0, 2, 4, 8, 16, 32, 64];

/// What a global holds before its definition runs (no Lox value has these
/// bits: a quiet NaN with a payload above `true`'s).
pub const UNDEFINED: Value = Value(0x7ffc_0000_0000_0004);

/// The type ids of the VM's objects.
#[derive(Clone)]
pub struct Types {
    pub string: TypeId,
    pub function: TypeId,
    pub code: TypeId,
    pub lines: TypeId,
    pub constants: TypeId,
    pub closure: TypeId,
    pub upvalue: TypeId,
    pub class: TypeId,
    /// By capacity, as [`INSTANCE_CAPS`].
    pub instance: [TypeId; INSTANCE_CAPS.len()],
    pub bound: TypeId,
    pub native: TypeId,
    pub table: TypeId,
    pub globals: TypeId,
    pub intern: TypeId,
}

/// An object's kind, from its header.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    String,
    Function,
    Closure,
    Upvalue,
    Class,
    Instance,
    Bound,
    Native,
    Other,
}

/// Reports every value a traced object holds (constants, tables,
/// upvalues, instances, globals): every word is a value or a plain
/// integer, which `decode` tells apart.
fn trace_values(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    for i in 0..view.words() {
        if let Some(p) = decode(view.word(i)) {
            edges.visit(p);
        }
    }
}

fn register(heap: &Heap) -> Types {
    let reg = |d| heap.register_type(d).expect("Lox types are valid");
    let traced = |name: &str, shape| reg(TypeDescriptor::traced(name, shape, trace_values, decode));
    let instance = INSTANCE_CAPS.map(|cap| {
        traced(
            &format!("LoxInstance{cap}"),
            Shape::Fixed {
                words: (INST_ENTRIES + 2 * cap) as u32,
            },
        )
    });
    Types {
        string: reg(TypeDescriptor::bytes("LoxString")),
        function: reg(TypeDescriptor::fixed("LoxFunction", 6, &[0, 1, 2, 3])),
        code: reg(TypeDescriptor::bytes("LoxCode")),
        lines: reg(TypeDescriptor::bytes("LoxLines")),
        constants: traced("LoxConstants", Shape::Array { elem_words: 1 }),
        closure: reg(TypeDescriptor::array("LoxClosure", 1, &[0])),
        upvalue: traced("LoxUpvalue", Shape::Fixed { words: 2 }),
        class: reg(TypeDescriptor::fixed("LoxClass", 5, &[0, 1, 2])),
        instance,
        bound: reg(TypeDescriptor::fixed("LoxBoundMethod", 2, &[0, 1])),
        native: reg(TypeDescriptor::fixed("LoxNative", 1, &[])),
        table: traced("LoxTable", Shape::Array { elem_words: 2 }),
        globals: traced("LoxGlobals", Shape::Array { elem_words: 1 }),
        intern: reg(TypeDescriptor::array("LoxInternTable", 1, &[])),
    }
}

/// FNV-1a, 32 bits.
pub fn hash_bytes(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2166136261;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(16777619);
    }
    h
}

/// The shadow-stack slot of the intern table's array.
const INTERN_ROOT: usize = 0;
const INTERN_EMPTY: u64 = 0;
const INTERN_TOMBSTONE: u64 = 1;
const TABLE_MAX_LOAD_NUM: usize = 3;
const TABLE_MAX_LOAD_DEN: usize = 4;

// Instance words.
const INST_CLASS: usize = 0;
const INST_SIZE: usize = 1;
const INST_SPILL: usize = 2;
const INST_ENTRIES: usize = 3;

// Class words.
const CLASS_NAME: usize = 0;
const CLASS_METHODS: usize = 1;
const CLASS_INIT: usize = 2;
const CLASS_HINT: usize = 3;
const CLASS_MASK: usize = 4;
const SHADOWED: u64 = 1 << 32;

// Function words.
const FN_NAME: usize = 0;
const FN_CODE: usize = 1;
const FN_CONSTANTS: usize = 2;
const FN_LINES: usize = 3;
const FN_COUNTS: usize = 4;
const FN_CODE_ADDR: usize = 5;

/// The object a value word carries (the caller knows it carries one).
#[inline(always)]
fn untag(w: u64) -> ObjRef {
    Value(w).as_obj().expect("an object value")
}

/// The index in [`INSTANCE_CAPS`] of the smallest inline table that holds
/// `fields` fields at a load of 3/4 (the largest if none does).
fn cap_class(fields: usize) -> usize {
    INSTANCE_CAPS
        .iter()
        .position(|&cap| fields * TABLE_MAX_LOAD_DEN <= cap * TABLE_MAX_LOAD_NUM)
        .unwrap_or(INSTANCE_CAPS.len() - 1)
}

/// A function's counts, from its `FN_COUNTS` word.
#[derive(Copy, Clone)]
pub struct FnCounts {
    pub arity: usize,
    pub upvalues: usize,
    /// The verified stack depth the function needs, counted from its slot
    /// 0 (the callee) up.
    pub max_stack: usize,
}

/// The VM's view of the heap: its mutator, its types, and the intern table.
pub struct Gc {
    m: Mutator,
    pub t: Types,
    /// Each type index's kind (`Other` past the end).
    kinds: Box<[Kind]>,
    closure_ix: u32,
    /// The intern table's array (rooted in shadow-stack slot
    /// `INTERN_ROOT`).
    intern: ObjRef,
    intern_cap: usize,
    /// Used slots, tombstones included (they are reused on insert, and
    /// dropped when the table is rebuilt).
    intern_used: usize,
    weak: WeakSlots,
}

impl Gc {
    /// Registers the VM's types with `heap` and attaches this thread.
    pub fn new(heap: &Heap) -> Gc {
        let t = register(heap);
        let mut m = heap.attach().expect("one VM per thread");
        let weak = heap.weak_slots(INTERN_TOMBSTONE);
        let cap = 256;
        let intern = m.alloc(t.intern, cap);
        // Shadow-stack slot 0 keeps the table's array alive (its words are
        // weak, the array is not).
        let slot = m.push_root(Some(intern));
        debug_assert_eq!(slot, INTERN_ROOT);
        weak.set_array(&m, Some(intern));
        let mut typed = vec![
            (t.string, Kind::String),
            (t.function, Kind::Function),
            (t.closure, Kind::Closure),
            (t.upvalue, Kind::Upvalue),
            (t.class, Kind::Class),
            (t.bound, Kind::Bound),
            (t.native, Kind::Native),
        ];
        typed.extend(t.instance.iter().map(|&ty| (ty, Kind::Instance)));
        let max = typed.iter().map(|(ty, _)| ty.index()).max().unwrap_or(0);
        let mut kinds = vec![Kind::Other; max as usize + 1];
        for (ty, k) in typed {
            kinds[ty.index() as usize] = k;
        }
        Gc {
            m,
            closure_ix: t.closure.index(),
            t,
            kinds: kinds.into_boxed_slice(),
            intern,
            intern_cap: cap,
            intern_used: 0,
            weak,
        }
    }

    /// The mutator (for the root scanner, statistics and collections).
    pub fn mutator(&mut self) -> &mut Mutator {
        &mut self.m
    }

    /// Polls for a collection.
    #[inline(always)]
    pub fn safepoint(&mut self) {
        self.m.safepoint();
    }

    /// Runs a full collection.
    pub fn collect(&mut self) {
        self.m.collect();
    }

    /// The kind of `o`: one load of its header, one of a small table.
    #[inline(always)]
    pub fn kind(&self, o: ObjRef) -> Kind {
        // SAFETY: `o` is live (module invariant).
        let ty = unsafe { self.m.type_index_of(o) };
        self.kinds.get(ty as usize).copied().unwrap_or(Kind::Other)
    }

    /// Whether `o` is a closure (one header load, one compare).
    #[inline(always)]
    pub fn is_closure(&self, o: ObjRef) -> bool {
        // SAFETY: `o` is live (module invariant).
        unsafe { self.m.type_index_of(o) == self.closure_ix }
    }

    /// Whether `v` is an object of kind `k`.
    #[inline(always)]
    pub fn value_is(&self, v: Value, k: Kind) -> bool {
        v.as_obj().is_some_and(|o| self.kind(o) == k)
    }

    // ---- raw word access ---------------------------------------------------

    #[inline(always)]
    fn word(&self, o: ObjRef, i: usize) -> u64 {
        // SAFETY: `o` is live (module invariant) and every caller passes a
        // word index inside the layout of `o`'s type (module table).
        unsafe { self.m.load_word(o, i) }
    }

    #[inline(always)]
    fn set_word(&mut self, o: ObjRef, i: usize, w: u64) {
        // SAFETY: as for `word`; a value stored in a traced object is live
        // (module invariant), so the barrier sees a live pointer.
        unsafe { self.m.store_word(o, i, w) }
    }

    #[inline(always)]
    fn ptr(&self, o: ObjRef, i: usize) -> Option<ObjRef> {
        // SAFETY: as for `word`; `i` is a pointer field of `o`'s type.
        unsafe { self.m.load(o, i) }
    }

    #[inline(always)]
    fn set_ptr(&mut self, o: ObjRef, i: usize, p: Option<ObjRef>) {
        // SAFETY: as for `ptr`; `p` is live (module invariant).
        unsafe { self.m.store(o, i, p) }
    }

    // ---- strings -----------------------------------------------------------

    /// The interned string with these bytes; allocates (a safepoint) when
    /// it is new.
    pub fn intern(&mut self, bytes: &[u8]) -> ObjRef {
        let hash = hash_bytes(bytes);
        let (found, slot) = self.intern_find(bytes, hash);
        if let Some(s) = found {
            // The table is weak: keeping a string found there while a mark
            // runs needs it shaded (`WeakSlots` rule 3).
            self.m.shade(s);
            return s;
        }
        let s = self.m.alloc(self.t.string, 8 + bytes.len());
        let head = hash as u64 | (bytes.len() as u64) << 32;
        // SAFETY: `s` was just allocated (no safepoint since), a byte
        // array this thread alone knows.
        let b = unsafe { self.m.bytes_mut(s) };
        b[..8].copy_from_slice(&head.to_le_bytes());
        b[8..].copy_from_slice(bytes);
        // The allocation may have run a collection that cleared slots,
        // but never fills one: the slot found is still free.
        let slot_word = self.word(self.intern, slot);
        if slot_word == INTERN_EMPTY {
            self.intern_used += 1;
        }
        self.set_word(self.intern, slot, s.addr() as u64);
        if self.intern_used * TABLE_MAX_LOAD_DEN > self.intern_cap * TABLE_MAX_LOAD_NUM {
            self.grow_intern(s);
        }
        s
    }

    /// The string with `bytes` and `hash`, or the slot to insert it at.
    fn intern_find(&self, bytes: &[u8], hash: u32) -> (Option<ObjRef>, usize) {
        let mask = self.intern_cap - 1;
        let mut i = hash as usize & mask;
        let mut tomb = None;
        let head = hash as u64 | (bytes.len() as u64) << 32;
        loop {
            let w = self.word(self.intern, i);
            match w {
                INTERN_EMPTY => return (None, tomb.unwrap_or(i)),
                INTERN_TOMBSTONE => {
                    tomb.get_or_insert(i);
                }
                _ => {
                    let s = ObjRef::from_addr(w as usize).expect("non-zero");
                    if self.word(s, 0) == head && self.str_slice(s) == bytes {
                        return (Some(s), i);
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Rebuilds the intern table at twice the size (or the same size, if
    /// most slots are tombstones); allocates. `keep` is the string just
    /// inserted, reachable only from the table until the caller roots it,
    /// so it is shaded like any string read from the table.
    fn grow_intern(&mut self, keep: ObjRef) {
        let live = (0..self.intern_cap)
            .filter(|&i| self.word(self.intern, i) > INTERN_TOMBSTONE)
            .count();
        let mut cap = self.intern_cap;
        while (live + 1) * TABLE_MAX_LOAD_DEN * 2 > cap * TABLE_MAX_LOAD_NUM {
            cap *= 2;
        }
        // `keep` is in the old table only; the allocation below may run a
        // collection, which would clear its slot, so it is rooted for it.
        let slot = self.m.push_root(Some(keep));
        let new = self.m.alloc(self.t.intern, cap);
        self.m.truncate_roots(slot);
        let old = self.intern;
        let mut used = 0;
        for i in 0..self.intern_cap {
            let w = self.word(old, i);
            if w <= INTERN_TOMBSTONE {
                continue;
            }
            let s = ObjRef::from_addr(w as usize).expect("non-zero");
            let mut j = self.str_hash(s) as usize & (cap - 1);
            while self.word(new, j) != INTERN_EMPTY {
                j = (j + 1) & (cap - 1);
            }
            self.set_word(new, j, w);
            used += 1;
        }
        self.intern = new;
        self.m.set_root(INTERN_ROOT, Some(new));
        self.intern_cap = cap;
        self.intern_used = used;
        self.weak.set_array(&self.m, Some(new));
    }

    /// Number of strings in the intern table (tombstones excluded).
    pub fn interned_count(&self) -> usize {
        (0..self.intern_cap)
            .filter(|&i| self.word(self.intern, i) > INTERN_TOMBSTONE)
            .count()
    }

    /// A string's hash.
    #[inline(always)]
    pub fn str_hash(&self, s: ObjRef) -> u32 {
        self.word(s, 0) as u32
    }

    /// A string's bytes, borrowed until the VM next allocates (the borrow
    /// of `self` sees to it).
    #[inline]
    pub fn str_slice(&self, s: ObjRef) -> &[u8] {
        // SAFETY: `s` is a live string (module invariant), a byte array
        // only this thread writes (once, in `intern`).
        unsafe { &self.m.bytes(s)[8..] }
    }

    /// Appends a string's bytes to `out`.
    pub fn str_bytes(&self, s: ObjRef, out: &mut Vec<u8>) {
        out.extend_from_slice(self.str_slice(s));
    }

    /// A string's contents, as (lossy) UTF-8.
    pub fn str_string(&self, s: ObjRef) -> String {
        String::from_utf8_lossy(self.str_slice(s)).into_owned()
    }

    /// The interned concatenation of two strings; allocates. Both must be
    /// rooted.
    pub fn concat(&mut self, a: ObjRef, b: ObjRef) -> ObjRef {
        let (x, y) = (self.str_slice(a), self.str_slice(b));
        let mut buf = Vec::with_capacity(x.len() + y.len());
        buf.extend_from_slice(x);
        buf.extend_from_slice(y);
        self.intern(&buf)
    }

    // ---- functions ---------------------------------------------------------

    /// A function from a finished, verified chunk; allocates. `constants`
    /// must be rooted by the caller (they are the compiler's roots until
    /// here).
    pub fn new_function(
        &mut self,
        name: Option<ObjRef>,
        counts: FnCounts,
        code: &[u8],
        lines: &[u32],
        constants: &[Value],
    ) -> ObjRef {
        let f = self.m.alloc(self.t.function, 0);
        let slot = self.m.push_root(Some(f));
        self.set_ptr(f, FN_NAME, name);
        let packed =
            counts.arity as u64 | (counts.upvalues as u64) << 16 | (counts.max_stack as u64) << 32;
        self.set_word(f, FN_COUNTS, packed);
        let c = self.m.alloc(self.t.code, code.len().max(1));
        // SAFETY: `c` was just allocated (no safepoint since), a byte array
        // this thread alone knows.
        let bytes = unsafe { self.m.bytes_mut(c) };
        bytes[..code.len()].copy_from_slice(code);
        let addr = bytes.as_ptr() as u64;
        self.set_ptr(f, FN_CODE, Some(c));
        self.set_word(f, FN_CODE_ADDR, addr);
        let l = self.m.alloc(self.t.lines, 4 * lines.len().max(1));
        // SAFETY: as for `c`.
        let lb = unsafe { self.m.bytes_mut(l) };
        for (i, line) in lines.iter().enumerate() {
            lb[4 * i..4 * i + 4].copy_from_slice(&line.to_le_bytes());
        }
        self.set_ptr(f, FN_LINES, Some(l));
        let k = self.m.alloc(self.t.constants, constants.len());
        for (i, v) in constants.iter().enumerate() {
            self.set_word(k, i, v.0);
        }
        self.set_ptr(f, FN_CONSTANTS, Some(k));
        self.m.truncate_roots(slot);
        f
    }

    /// The function's name, `None` for the script.
    pub fn fn_name(&self, f: ObjRef) -> Option<ObjRef> {
        self.ptr(f, FN_NAME)
    }

    /// The function's arity, upvalue count and stack depth.
    #[inline(always)]
    pub fn fn_counts(&self, f: ObjRef) -> FnCounts {
        let w = self.word(f, FN_COUNTS);
        FnCounts {
            arity: w as u16 as usize,
            upvalues: (w >> 16) as u16 as usize,
            max_stack: (w >> 32) as usize,
        }
    }

    /// The function's constants object.
    #[inline(always)]
    pub fn fn_constants(&self, f: ObjRef) -> ObjRef {
        self.ptr(f, FN_CONSTANTS).expect("functions have constants")
    }

    /// The address of the function's first code byte. The code object is
    /// a byte array that never moves, written once before the function
    /// exists; it stays allocated while `f` is live (pointer word 1).
    #[inline(always)]
    pub fn fn_code(&self, f: ObjRef) -> *const u8 {
        self.word(f, FN_CODE_ADDR) as usize as *const u8
    }

    /// The source line of the code byte at `offset`.
    pub fn fn_line(&self, f: ObjRef, offset: usize) -> u32 {
        let l = self.ptr(f, FN_LINES).expect("functions have lines");
        // SAFETY: `l` is live (reachable from `f`), a byte array written
        // once, in `new_function`.
        let b = unsafe { self.m.bytes(l) };
        b.get(4 * offset..4 * offset + 4)
            .map_or(0, |w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
    }

    /// Constant `i` of a constants object.
    #[inline(always)]
    pub fn constant(&self, k: ObjRef, i: usize) -> Value {
        Value(self.word(k, i))
    }

    /// The number of constants of a constants object.
    pub fn constants_len(&self, k: ObjRef) -> usize {
        // SAFETY: `k` is live (module invariant).
        unsafe { self.m.shape_of(k) }.1
    }

    // ---- closures and upvalues ---------------------------------------------

    /// A closure of `f` with room for its upvalues (all null); allocates.
    pub fn new_closure(&mut self, f: ObjRef) -> ObjRef {
        let n = self.fn_counts(f).upvalues;
        let slot = self.m.push_root(Some(f));
        let c = self.m.alloc(self.t.closure, 1 + n);
        self.m.truncate_roots(slot);
        self.set_ptr(c, 0, Some(f));
        c
    }

    /// The closure's function.
    #[inline(always)]
    pub fn closure_fn(&self, c: ObjRef) -> ObjRef {
        self.ptr(c, 0).expect("closures have functions")
    }

    /// Upvalue `i` of a closure (`i` below its function's upvalue count).
    #[inline(always)]
    pub fn closure_upvalue(&self, c: ObjRef, i: usize) -> ObjRef {
        self.ptr(c, 1 + i).expect("closures' upvalues are set")
    }

    /// Sets upvalue `i` of a closure.
    pub fn set_closure_upvalue(&mut self, c: ObjRef, i: usize, u: ObjRef) {
        self.set_ptr(c, 1 + i, Some(u));
    }

    /// An open upvalue for stack slot `slot`; allocates.
    pub fn new_upvalue(&mut self, slot: usize) -> ObjRef {
        let u = self.m.alloc(self.t.upvalue, 0);
        self.set_word(u, 0, Value::NIL.0);
        self.set_word(u, 1, slot as u64 + 1);
        u
    }

    /// The stack slot of an open upvalue; `None` once closed.
    #[inline(always)]
    pub fn upvalue_slot(&self, u: ObjRef) -> Option<usize> {
        match self.word(u, 1) {
            0 => None,
            s => Some(s as usize - 1),
        }
    }

    /// A closed upvalue's value.
    #[inline(always)]
    pub fn upvalue_value(&self, u: ObjRef) -> Value {
        Value(self.word(u, 0))
    }

    /// Sets a closed upvalue's value.
    #[inline(always)]
    pub fn set_upvalue_value(&mut self, u: ObjRef, v: Value) {
        self.set_word(u, 0, v.0);
    }

    /// Closes an upvalue over `v` (its stack slot's value).
    pub fn close_upvalue(&mut self, u: ObjRef, v: Value) {
        self.set_word(u, 0, v.0);
        self.set_word(u, 1, 0);
    }

    // ---- classes -----------------------------------------------------------

    /// A class with no methods, expecting `fields` fields per instance;
    /// allocates. `name` must be rooted.
    pub fn new_class(&mut self, name: ObjRef, fields: usize) -> ObjRef {
        let c = self.m.alloc(self.t.class, 0);
        self.set_ptr(c, CLASS_NAME, Some(name));
        self.set_word(c, CLASS_HINT, fields as u64);
        c
    }

    /// The class's name.
    pub fn class_name(&self, c: ObjRef) -> ObjRef {
        self.ptr(c, CLASS_NAME).expect("classes have names")
    }

    /// The class's methods table, if it has methods.
    #[inline(always)]
    pub fn class_methods(&self, c: ObjRef) -> Option<ObjRef> {
        self.ptr(c, CLASS_METHODS)
    }

    /// The method `name` of class `c`.
    #[inline(always)]
    pub fn find_method(&self, c: ObjRef, name: ObjRef) -> Option<ObjRef> {
        let t = self.class_methods(c)?;
        self.table_get(t, name).and_then(Value::as_obj)
    }

    /// The class's `init` method, cached.
    #[inline(always)]
    pub fn class_init(&self, c: ObjRef) -> Option<ObjRef> {
        self.ptr(c, CLASS_INIT)
    }

    /// Sets the cached `init` method.
    pub fn set_class_init(&mut self, c: ObjRef, init: Option<ObjRef>) {
        self.set_ptr(c, CLASS_INIT, init);
    }

    /// Whether some instance of `c` has a field named like one of its
    /// methods (`INVOKE` must then look at fields first).
    #[inline(always)]
    pub fn class_shadowed(&self, c: ObjRef) -> bool {
        self.word(c, CLASS_HINT) & SHADOWED != 0
    }

    /// Adds a method; allocates when the table grows. `c`, `name` and
    /// `method` must be rooted.
    pub fn class_set_method(&mut self, c: ObjRef, name: ObjRef, method: Value) {
        let t = self.class_methods(c);
        let (t2, _) = self.table_set(t, name, method);
        if t != Some(t2) {
            self.set_ptr(c, CLASS_METHODS, Some(t2));
        }
        let mask = self.word(c, CLASS_MASK) | 1 << (self.str_hash(name) & 63);
        self.set_word(c, CLASS_MASK, mask);
    }

    /// Copies the superclass's methods into `sub` (copy-down inheritance)
    /// and adds its field hint to `sub`'s; allocates. Both must be rooted.
    pub fn inherit(&mut self, sup: ObjRef, sub: ObjRef) {
        let hint = (self.word(sup, CLASS_HINT) + self.word(sub, CLASS_HINT)) & !SHADOWED;
        self.set_word(sub, CLASS_HINT, hint.min(u32::MAX as u64));
        let Some(t) = self.class_methods(sup) else {
            return;
        };
        let cap = self.word(t, 1) as usize;
        for i in 1..=cap {
            let k = Value(self.word(t, 2 * i));
            if let Some(key) = k.as_obj() {
                let v = Value(self.word(t, 2 * i + 1));
                self.class_set_method(sub, key, v);
            }
        }
        let init = self.class_init(sup);
        self.set_class_init(sub, init);
    }

    // ---- instances ---------------------------------------------------------

    /// An instance of `class` with no fields, its inline table sized by the
    /// class's field hint; allocates. `class` must be rooted.
    #[inline]
    pub fn new_instance(&mut self, class: ObjRef) -> ObjRef {
        let hint = self.word(class, CLASS_HINT) as u32 as usize;
        let ci = cap_class(hint);
        let i = self.m.alloc(self.t.instance[ci], 0);
        self.set_word(i, INST_CLASS, Value::obj(class).0);
        self.set_word(i, INST_SIZE, (INSTANCE_CAPS[ci] as u64) << 32);
        i
    }

    /// The instance's class.
    #[inline(always)]
    pub fn instance_class(&self, i: ObjRef) -> ObjRef {
        untag(self.word(i, INST_CLASS))
    }

    /// The entry of `name` in instance `i`'s inline table (capacity `cap`,
    /// a power of two, with an empty entry: the probe ends): `Ok(index)`
    /// if there, `Err(index)` of the empty entry that ends the probe.
    #[inline(always)]
    fn inline_find(&self, i: ObjRef, cap: usize, name: ObjRef) -> Result<usize, usize> {
        let kv = Value::obj(name).0;
        let mask = cap - 1;
        let mut j = self.str_hash(name) as usize & mask;
        loop {
            let k = self.word(i, INST_ENTRIES + 2 * j);
            if k == kv {
                return Ok(j);
            }
            if k == 0 {
                return Err(j);
            }
            j = (j + 1) & mask;
        }
    }

    /// A field, if set.
    #[inline(always)]
    pub fn get_field(&self, i: ObjRef, name: ObjRef) -> Option<Value> {
        let cap = (self.word(i, INST_SIZE) >> 32) as usize;
        if cap == 0 {
            return self.spilled_field(i, name);
        }
        match self.inline_find(i, cap, name) {
            Ok(j) => Some(Value(self.word(i, INST_ENTRIES + 2 * j + 1))),
            Err(_) => None,
        }
    }

    #[inline(never)]
    fn spilled_field(&self, i: ObjRef, name: ObjRef) -> Option<Value> {
        let t = Value(self.word(i, INST_SPILL)).as_obj()?;
        self.table_get(t, name)
    }

    /// Sets a field; allocates when the instance spills or its spilled
    /// table grows. `i`, `name` and `v` must be rooted.
    #[inline]
    pub fn set_field(&mut self, i: ObjRef, name: ObjRef, v: Value) {
        let size = self.word(i, INST_SIZE);
        let cap = (size >> 32) as usize;
        if cap != 0 {
            match self.inline_find(i, cap, name) {
                Ok(j) => return self.set_word(i, INST_ENTRIES + 2 * j + 1, v.0),
                Err(j) => {
                    let count = size as u32 as usize + 1;
                    if count * TABLE_MAX_LOAD_DEN <= cap * TABLE_MAX_LOAD_NUM {
                        self.set_word(i, INST_ENTRIES + 2 * j, Value::obj(name).0);
                        self.set_word(i, INST_ENTRIES + 2 * j + 1, v.0);
                        self.set_word(i, INST_SIZE, size + 1);
                        self.new_field(i, name, count);
                        return;
                    }
                    self.spill(i, cap);
                }
            }
        }
        self.set_spilled_field(i, name, v);
    }

    /// Moves instance `i`'s inline fields (table capacity `cap`) to a new
    /// table object; allocates.
    #[cold]
    fn spill(&mut self, i: ObjRef, cap: usize) {
        let t = self.new_table((2 * cap).max(8));
        // `t` is unrooted until stored in `i`: no allocation in between
        // (the table is big enough for the inline fields).
        let mut t2 = t;
        for j in 0..cap {
            let k = self.word(i, INST_ENTRIES + 2 * j);
            if let Some(key) = Value(k).as_obj() {
                let v = Value(self.word(i, INST_ENTRIES + 2 * j + 1));
                (t2, _) = self.table_set(Some(t2), key, v);
                debug_assert_eq!(t2, t, "no growth");
                self.set_word(i, INST_ENTRIES + 2 * j, 0);
                self.set_word(i, INST_ENTRIES + 2 * j + 1, 0);
            }
        }
        self.set_word(i, INST_SPILL, Value::obj(t2).0);
        let count = self.word(i, INST_SIZE) as u32 as u64;
        self.set_word(i, INST_SIZE, count);
    }

    #[inline(never)]
    fn set_spilled_field(&mut self, i: ObjRef, name: ObjRef, v: Value) {
        let t = Value(self.word(i, INST_SPILL)).as_obj();
        let (t2, new) = self.table_set(t, name, v);
        if t != Some(t2) {
            self.set_word(i, INST_SPILL, Value::obj(t2).0);
        }
        if new {
            let count = self.word(t2, 0) as usize;
            self.set_word(i, INST_SIZE, count as u64);
            self.new_field(i, name, count);
        }
    }

    /// Instance `i` has a new field `name`, its `count`th: the class's
    /// field hint and shadowed flag follow.
    #[inline(always)]
    fn new_field(&mut self, i: ObjRef, name: ObjRef, count: usize) {
        let c = self.instance_class(i);
        let hint = self.word(c, CLASS_HINT);
        if count > hint as u32 as usize {
            self.set_word(c, CLASS_HINT, (hint & SHADOWED) | count as u64);
        }
        let bit = 1u64 << (self.str_hash(name) & 63);
        if self.word(c, CLASS_MASK) & bit != 0 {
            self.note_shadowing(c, name);
        }
    }

    #[cold]
    fn note_shadowing(&mut self, c: ObjRef, name: ObjRef) {
        if self.find_method(c, name).is_some() {
            let hint = self.word(c, CLASS_HINT);
            self.set_word(c, CLASS_HINT, hint | SHADOWED);
        }
    }

    // ---- bound methods, natives --------------------------------------------

    /// A method bound to its receiver; allocates. Both must be rooted.
    pub fn new_bound(&mut self, receiver: ObjRef, method: ObjRef) -> ObjRef {
        let b = self.m.alloc(self.t.bound, 0);
        self.set_ptr(b, 0, Some(receiver));
        self.set_ptr(b, 1, Some(method));
        b
    }

    /// A bound method's (receiver, method).
    #[inline]
    pub fn bound_parts(&self, b: ObjRef) -> (ObjRef, ObjRef) {
        (
            self.ptr(b, 0).expect("bound receiver"),
            self.ptr(b, 1).expect("bound method"),
        )
    }

    /// A native function; allocates.
    pub fn new_native(&mut self, index: usize) -> ObjRef {
        let n = self.m.alloc(self.t.native, 0);
        self.set_word(n, 0, index as u64);
        n
    }

    /// A native's number.
    pub fn native_index(&self, n: ObjRef) -> usize {
        self.word(n, 0) as usize
    }

    // ---- globals -----------------------------------------------------------

    /// A globals array of `cap` values, the first `len` copied from `old`,
    /// the rest [`UNDEFINED`]; allocates. `old` must be rooted.
    pub fn new_globals(&mut self, old: Option<ObjRef>, len: usize, cap: usize) -> ObjRef {
        let g = self.m.alloc(self.t.globals, cap);
        for i in 0..cap {
            let v = match old {
                Some(o) if i < len => self.word(o, i),
                _ => UNDEFINED.0,
            };
            self.set_word(g, i, v);
        }
        g
    }

    /// The capacity of a globals array.
    pub fn globals_cap(&self, g: ObjRef) -> usize {
        // SAFETY: `g` is live (module invariant).
        unsafe { self.m.shape_of(g) }.1
    }

    /// Global `i` (below the array's capacity).
    #[inline(always)]
    pub fn global(&self, g: ObjRef, i: usize) -> Value {
        Value(self.word(g, i))
    }

    /// Sets global `i` (below the array's capacity).
    #[inline(always)]
    pub fn set_global(&mut self, g: ObjRef, i: usize, v: Value) {
        self.set_word(g, i, v.0);
    }

    // ---- tables ------------------------------------------------------------

    /// A table with room for `cap` entries (a power of two); allocates.
    pub fn new_table(&mut self, cap: usize) -> ObjRef {
        let t = self.m.alloc(self.t.table, cap + 1);
        self.set_word(t, 1, cap as u64);
        t
    }

    /// The value for `key` in table `t`.
    #[inline]
    pub fn table_get(&self, t: ObjRef, key: ObjRef) -> Option<Value> {
        let cap = self.word(t, 1) as usize;
        let mask = cap - 1;
        let kv = Value::obj(key).0;
        let mut i = self.str_hash(key) as usize & mask;
        loop {
            let k = self.word(t, 2 * (i + 1));
            if k == kv {
                return Some(Value(self.word(t, 2 * (i + 1) + 1)));
            }
            if k == 0 && self.word(t, 2 * (i + 1) + 1) == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Sets `key` to `v` in `t` (a new table when `t` is `None` or full);
    /// returns the table (the caller stores it if it changed) and whether
    /// the key is new. Allocates in those cases; the table's owner, `key`
    /// and `v` must be rooted.
    pub fn table_set(&mut self, t: Option<ObjRef>, key: ObjRef, v: Value) -> (ObjRef, bool) {
        let mut t = match t {
            Some(t) => t,
            None => self.new_table(8),
        };
        let cap = self.word(t, 1) as usize;
        let count = self.word(t, 0) as usize;
        if (count + 1) * TABLE_MAX_LOAD_DEN > cap * TABLE_MAX_LOAD_NUM {
            t = self.grow_table(t, cap * 2);
        }
        let cap = self.word(t, 1) as usize;
        let mask = cap - 1;
        let kv = Value::obj(key).0;
        let mut i = self.str_hash(key) as usize & mask;
        let mut tomb = None;
        loop {
            let k = self.word(t, 2 * (i + 1));
            if k == kv {
                self.set_word(t, 2 * (i + 1) + 1, v.0);
                return (t, false);
            }
            if k == 0 {
                if self.word(t, 2 * (i + 1) + 1) == 0 {
                    let at = match tomb {
                        Some(j) => j,
                        None => {
                            let c = self.word(t, 0);
                            self.set_word(t, 0, c + 1);
                            i
                        }
                    };
                    self.set_word(t, 2 * (at + 1), kv);
                    self.set_word(t, 2 * (at + 1) + 1, v.0);
                    return (t, true);
                }
                tomb.get_or_insert(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// A copy of `t` with `cap` slots (tombstones dropped); allocates. The
    /// owner of `t` must be rooted (so `t` is).
    fn grow_table(&mut self, t: ObjRef, cap: usize) -> ObjRef {
        let new = self.new_table(cap);
        let old_cap = self.word(t, 1) as usize;
        let mut count = 0;
        for i in 1..=old_cap {
            let k = Value(self.word(t, 2 * i));
            let Some(key) = k.as_obj() else { continue };
            let v = self.word(t, 2 * i + 1);
            let mut j = self.str_hash(key) as usize & (cap - 1);
            while self.word(new, 2 * (j + 1)) != 0 {
                j = (j + 1) & (cap - 1);
            }
            self.set_word(new, 2 * (j + 1), k.0);
            self.set_word(new, 2 * (j + 1) + 1, v);
            count += 1;
        }
        self.set_word(new, 0, count);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_capacities_hold_their_hints() {
        assert_eq!(INSTANCE_CAPS[cap_class(0)], 0);
        assert_eq!(INSTANCE_CAPS[cap_class(1)], 2);
        assert_eq!(INSTANCE_CAPS[cap_class(4)], 8);
        assert_eq!(INSTANCE_CAPS[cap_class(6)], 8);
        assert_eq!(INSTANCE_CAPS[cap_class(7)], 16);
        assert_eq!(INSTANCE_CAPS[cap_class(30)], 64);
        assert_eq!(INSTANCE_CAPS[cap_class(1000)], 64);
    }
}
