//! The object layer: every Lox object, its layout in tricolor's heap, and
//! every access to object memory. The rest of the VM calls the safe
//! methods of [`Gc`]; all `unsafe` of the VM is here and in `roots`.
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
//! its stack (and its `push`/`pop` around allocations).
//!
//! # Layouts (words after the header)
//!
//! | type | shape | words |
//! |---|---|---|
//! | String | bytes, len = 8 + n | 0: hash \| n << 32; 1..: the bytes |
//! | Function | fixed 6, pointers 0–3 | name string (0 for the script), code, constants, lines, arity, upvalue count \| code length << 32 |
//! | Code | bytes | the bytecode |
//! | Lines | bytes, 4 per instruction byte | source line of each code byte |
//! | Constants | traced array of values | |
//! | Closure | array of pointers | 0: function; 1..: upvalues |
//! | Upvalue | traced, fixed 2 | 0: the closed value; 1: stack slot + 1 while open, 0 once closed |
//! | Class | fixed 3, pointers | name, methods table, `init` closure (0: none) |
//! | Instance | fixed 2, pointers | class, fields table (0: none yet) |
//! | BoundMethod | fixed 2, pointers | receiver instance, method closure |
//! | Native | fixed 1, no pointers | the native's number |
//! | Table | traced array of 2-word entries | entry 0: count, capacity; entries 1..=capacity: key (a string value, 0 if empty), value (tombstone: key 0, value `true`) |
//! | Intern | array of words, no pointer map, weak | string addresses; 0 empty, 1 tombstone; cleared by the collector when a string dies ([`WeakSlots`]) |

use tricolor::raw::{
    Edges, Heap, Mutator, ObjRef, ObjectView, Shape, TypeDescriptor, TypeId, WeakSlots,
};

use crate::value::{decode, Value};

/// The type ids of the VM's objects.
#[derive(Copy, Clone)]
pub struct Types {
    pub string: TypeId,
    pub function: TypeId,
    pub code: TypeId,
    pub lines: TypeId,
    pub constants: TypeId,
    pub closure: TypeId,
    pub upvalue: TypeId,
    pub class: TypeId,
    pub instance: TypeId,
    pub bound: TypeId,
    pub native: TypeId,
    pub table: TypeId,
    pub intern: TypeId,
}

/// A function's bytecode, read a byte at a time by the interpreter.
///
/// Byte arrays are readable only a word at a time through the library's
/// API, so this reads the code object's payload directly. That is sound
/// because the code object stays live while the interpreter holds this
/// (it is reachable from the frame's closure, a root), the collector does
/// not move objects, and code is written once, in `Gc::new_function`,
/// before any frame runs it; the collector never reads it (noscan).
#[derive(Copy, Clone)]
pub struct Code {
    ptr: *const u8,
    len: usize,
}

impl Code {
    /// The byte at `i`.
    ///
    /// # Panics
    /// If `i` is past the end of the code.
    #[inline(always)]
    pub fn byte(self, i: usize) -> u8 {
        assert!(i < self.len, "bytecode read past the end");
        // SAFETY: `i` is in bounds, and the code object is live and
        // immutable (type docs).
        unsafe { *self.ptr.add(i) }
    }
}

/// An object's kind, from its header.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
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
/// upvalues): every word is a value or a plain integer, which `decode`
/// tells apart.
fn trace_values(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    for i in 0..view.words() {
        if let Some(p) = decode(view.word(i)) {
            edges.visit(p);
        }
    }
}

fn register(heap: &Heap) -> Types {
    let reg = |d| heap.register_type(d).expect("Lox types are valid");
    Types {
        string: reg(TypeDescriptor::bytes("LoxString")),
        function: reg(TypeDescriptor::fixed("LoxFunction", 6, &[0, 1, 2, 3])),
        code: reg(TypeDescriptor::bytes("LoxCode")),
        lines: reg(TypeDescriptor::bytes("LoxLines")),
        constants: reg(TypeDescriptor::traced(
            "LoxConstants",
            Shape::Array { elem_words: 1 },
            trace_values,
            decode,
        )),
        closure: reg(TypeDescriptor::array("LoxClosure", 1, &[0])),
        upvalue: reg(TypeDescriptor::traced(
            "LoxUpvalue",
            Shape::Fixed { words: 2 },
            trace_values,
            decode,
        )),
        class: reg(TypeDescriptor::fixed("LoxClass", 3, &[0, 1, 2])),
        instance: reg(TypeDescriptor::fixed("LoxInstance", 2, &[0, 1])),
        bound: reg(TypeDescriptor::fixed("LoxBoundMethod", 2, &[0, 1])),
        native: reg(TypeDescriptor::fixed("LoxNative", 1, &[])),
        table: reg(TypeDescriptor::traced(
            "LoxTable",
            Shape::Array { elem_words: 2 },
            trace_values,
            decode,
        )),
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

/// The VM's view of the heap: its mutator, its types, and the intern table.
pub struct Gc {
    m: Mutator,
    pub t: Types,
    kinds: [u32; 8],
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
        let kinds = [
            t.string.index(),
            t.function.index(),
            t.closure.index(),
            t.upvalue.index(),
            t.class.index(),
            t.instance.index(),
            t.bound.index(),
            t.native.index(),
        ];
        Gc {
            m,
            t,
            kinds,
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
    #[inline]
    pub fn safepoint(&mut self) {
        self.m.safepoint();
    }

    /// Runs a full collection.
    pub fn collect(&mut self) {
        self.m.collect();
    }

    /// The kind of `o`.
    #[inline]
    pub fn kind(&self, o: ObjRef) -> Kind {
        // SAFETY: `o` is live (module invariant).
        let ty = unsafe { self.m.type_index_of(o) };
        const KINDS: [Kind; 8] = [
            Kind::String,
            Kind::Function,
            Kind::Closure,
            Kind::Upvalue,
            Kind::Class,
            Kind::Instance,
            Kind::Bound,
            Kind::Native,
        ];
        for (i, &k) in self.kinds.iter().enumerate() {
            if k == ty {
                return KINDS[i];
            }
        }
        Kind::Other
    }

    /// Whether `o` is of type `ty`.
    #[inline]
    pub fn is(&self, o: ObjRef, ty: TypeId) -> bool {
        // SAFETY: `o` is live (module invariant).
        unsafe { self.m.type_index_of(o) == ty.index() }
    }

    /// Whether `v` is an object of type `ty`.
    #[inline]
    pub fn value_is(&self, v: Value, ty: TypeId) -> bool {
        v.as_obj().is_some_and(|o| self.is(o, ty))
    }

    // ---- raw word access ---------------------------------------------------

    #[inline]
    fn word(&self, o: ObjRef, i: usize) -> u64 {
        // SAFETY: `o` is live (module invariant) and every caller passes a
        // word index inside the layout of `o`'s type (module table).
        unsafe { self.m.load_word(o, i) }
    }

    #[inline]
    fn set_word(&mut self, o: ObjRef, i: usize, w: u64) {
        // SAFETY: as for `word`; a value stored in a traced object is live
        // (module invariant), so the barrier sees a live pointer.
        unsafe { self.m.store_word(o, i, w) }
    }

    #[inline]
    fn ptr(&self, o: ObjRef, i: usize) -> Option<ObjRef> {
        // SAFETY: as for `word`; `i` is a pointer field of `o`'s type.
        unsafe { self.m.load(o, i) }
    }

    #[inline]
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
        self.set_word(s, 0, hash as u64 | (bytes.len() as u64) << 32);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.set_word(s, 1 + i, u64::from_le_bytes(w));
        }
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
                    if self.word(s, 0) == head && self.str_eq_bytes(s, bytes) {
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

    /// A string's length in bytes.
    #[inline]
    pub fn str_len(&self, s: ObjRef) -> usize {
        (self.word(s, 0) >> 32) as usize
    }

    /// A string's hash.
    #[inline]
    pub fn str_hash(&self, s: ObjRef) -> u32 {
        self.word(s, 0) as u32
    }

    /// Appends a string's bytes to `out`.
    pub fn str_bytes(&self, s: ObjRef, out: &mut Vec<u8>) {
        let n = self.str_len(s);
        let start = out.len();
        for i in 0..n.div_ceil(8) {
            out.extend_from_slice(&self.word(s, 1 + i).to_le_bytes());
        }
        out.truncate(start + n);
    }

    /// A string's contents, as (lossy) UTF-8.
    pub fn str_string(&self, s: ObjRef) -> String {
        let mut b = Vec::new();
        self.str_bytes(s, &mut b);
        String::from_utf8_lossy(&b).into_owned()
    }

    fn str_eq_bytes(&self, s: ObjRef, bytes: &[u8]) -> bool {
        bytes.chunks(8).enumerate().all(|(i, chunk)| {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.word(s, 1 + i) == u64::from_le_bytes(w)
        })
    }

    // ---- functions ---------------------------------------------------------

    /// A function from a finished chunk; allocates. `constants` must be
    /// rooted by the caller (they are the compiler's roots until here).
    pub fn new_function(
        &mut self,
        name: Option<ObjRef>,
        arity: u8,
        upvalues: usize,
        code: &[u8],
        lines: &[u32],
        constants: &[Value],
    ) -> ObjRef {
        let f = self.m.alloc(self.t.function, 0);
        let slot = self.m.push_root(Some(f));
        self.set_ptr(f, 0, name);
        self.set_word(f, 4, arity as u64);
        self.set_word(f, 5, upvalues as u64 | (code.len() as u64) << 32);
        let c = self.m.alloc(self.t.code, code.len().max(1));
        for (i, chunk) in code.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.set_word(c, i, u64::from_le_bytes(w));
        }
        self.set_ptr(f, 1, Some(c));
        let l = self.m.alloc(self.t.lines, 4 * lines.len().max(1));
        for (i, pair) in lines.chunks(2).enumerate() {
            let lo = pair[0] as u64;
            let hi = pair.get(1).map_or(0, |&x| x as u64);
            self.set_word(l, i, lo | hi << 32);
        }
        self.set_ptr(f, 3, Some(l));
        let k = self.m.alloc(self.t.constants, constants.len());
        for (i, v) in constants.iter().enumerate() {
            self.set_word(k, i, v.0);
        }
        self.set_ptr(f, 2, Some(k));
        self.m.truncate_roots(slot);
        f
    }

    /// The function's name, `None` for the script.
    pub fn fn_name(&self, f: ObjRef) -> Option<ObjRef> {
        self.ptr(f, 0)
    }

    /// The function's arity.
    #[inline]
    pub fn fn_arity(&self, f: ObjRef) -> usize {
        self.word(f, 4) as usize
    }

    /// The function's upvalue count.
    pub fn fn_upvalues(&self, f: ObjRef) -> usize {
        self.word(f, 5) as u32 as usize
    }

    /// The function's constants object.
    #[inline]
    pub fn fn_constants(&self, f: ObjRef) -> ObjRef {
        self.ptr(f, 2).expect("functions have constants")
    }

    /// The function's bytecode.
    #[inline]
    pub fn fn_code(&self, f: ObjRef) -> Code {
        let code = self.ptr(f, 1).expect("functions have code");
        let len = (self.word(f, 5) >> 32) as usize;
        Code {
            // The payload starts one word after the header.
            ptr: (code.addr() + 8) as *const u8,
            len,
        }
    }

    /// The source line of the code byte at `offset`.
    pub fn fn_line(&self, f: ObjRef, offset: usize) -> u32 {
        let l = self.ptr(f, 3).expect("functions have lines");
        let w = self.word(l, offset / 2);
        if offset.is_multiple_of(2) {
            w as u32
        } else {
            (w >> 32) as u32
        }
    }

    /// Constant `i` of a constants object.
    #[inline]
    pub fn constant(&self, k: ObjRef, i: usize) -> Value {
        Value(self.word(k, i))
    }

    // ---- closures and upvalues ---------------------------------------------

    /// A closure of `f` with room for its upvalues (all null); allocates.
    pub fn new_closure(&mut self, f: ObjRef) -> ObjRef {
        let n = self.fn_upvalues(f);
        let slot = self.m.push_root(Some(f));
        let c = self.m.alloc(self.t.closure, 1 + n);
        self.m.truncate_roots(slot);
        self.set_ptr(c, 0, Some(f));
        c
    }

    /// The closure's function.
    #[inline]
    pub fn closure_fn(&self, c: ObjRef) -> ObjRef {
        self.ptr(c, 0).expect("closures have functions")
    }

    /// Upvalue `i` of a closure.
    #[inline]
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
    #[inline]
    pub fn upvalue_slot(&self, u: ObjRef) -> Option<usize> {
        match self.word(u, 1) {
            0 => None,
            s => Some(s as usize - 1),
        }
    }

    /// A closed upvalue's value.
    #[inline]
    pub fn upvalue_value(&self, u: ObjRef) -> Value {
        Value(self.word(u, 0))
    }

    /// Sets a closed upvalue's value.
    #[inline]
    pub fn set_upvalue_value(&mut self, u: ObjRef, v: Value) {
        self.set_word(u, 0, v.0);
    }

    /// Closes an upvalue over `v` (its stack slot's value).
    pub fn close_upvalue(&mut self, u: ObjRef, v: Value) {
        self.set_word(u, 0, v.0);
        self.set_word(u, 1, 0);
    }

    // ---- classes, instances, bound methods, natives ----------------------

    /// A class with no methods; allocates. `name` must be rooted.
    pub fn new_class(&mut self, name: ObjRef) -> ObjRef {
        let c = self.m.alloc(self.t.class, 0);
        self.set_ptr(c, 0, Some(name));
        c
    }

    /// The class's name.
    pub fn class_name(&self, c: ObjRef) -> ObjRef {
        self.ptr(c, 0).expect("classes have names")
    }

    /// The class's methods table, if it has methods.
    #[inline]
    pub fn class_methods(&self, c: ObjRef) -> Option<ObjRef> {
        self.ptr(c, 1)
    }

    /// The class's `init` method, cached.
    #[inline]
    pub fn class_init(&self, c: ObjRef) -> Option<ObjRef> {
        self.ptr(c, 2)
    }

    /// Sets the cached `init` method.
    pub fn set_class_init(&mut self, c: ObjRef, init: Option<ObjRef>) {
        self.set_ptr(c, 2, init);
    }

    /// Adds a method; allocates when the table grows. `c`, `name` and
    /// `method` must be rooted.
    pub fn class_set_method(&mut self, c: ObjRef, name: ObjRef, method: Value) {
        let t = self.class_methods(c);
        let (t2, _) = self.table_set(t, name, method);
        if t != Some(t2) {
            self.set_ptr(c, 1, Some(t2));
        }
    }

    /// Copies the superclass's methods into `sub` (copy-down inheritance);
    /// allocates. Both must be rooted.
    pub fn inherit(&mut self, sup: ObjRef, sub: ObjRef) {
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

    /// An instance of `class` with no fields; allocates. `class` must be
    /// rooted.
    #[inline]
    pub fn new_instance(&mut self, class: ObjRef) -> ObjRef {
        let i = self.m.alloc(self.t.instance, 0);
        self.set_ptr(i, 0, Some(class));
        i
    }

    /// The instance's class.
    #[inline]
    pub fn instance_class(&self, i: ObjRef) -> ObjRef {
        self.ptr(i, 0).expect("instances have classes")
    }

    /// A field, if set.
    #[inline]
    pub fn get_field(&self, i: ObjRef, name: ObjRef) -> Option<Value> {
        let t = self.ptr(i, 1)?;
        self.table_get(t, name)
    }

    /// Sets a field; allocates when the table grows. `i`, `name` and `v`
    /// must be rooted.
    #[inline]
    pub fn set_field(&mut self, i: ObjRef, name: ObjRef, v: Value) {
        let t = self.ptr(i, 1);
        let (t2, _) = self.table_set(t, name, v);
        if t != Some(t2) {
            self.set_ptr(i, 1, Some(t2));
        }
    }

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

    /// Removes `key` from `t`; whether it was there.
    pub fn table_delete(&mut self, t: ObjRef, key: ObjRef) -> bool {
        let cap = self.word(t, 1) as usize;
        let mask = cap - 1;
        let kv = Value::obj(key).0;
        let mut i = self.str_hash(key) as usize & mask;
        loop {
            let k = self.word(t, 2 * (i + 1));
            if k == kv {
                self.set_word(t, 2 * (i + 1), 0);
                self.set_word(t, 2 * (i + 1) + 1, Value::TRUE.0);
                return true;
            }
            if k == 0 && self.word(t, 2 * (i + 1) + 1) == 0 {
                return false;
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
