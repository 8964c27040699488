//! Bad input gets a clear error or a panic that says what was wrong.

mod common;

use common::*;
use tricolor_collector::{
    AttachError, Config, DescriptorError, GcAllocError, Heap, TypeDescriptor, TypeId,
};

#[test]
fn descriptors_are_checked_at_registration() {
    let heap = Heap::new(Config::default());
    let e = heap
        .register_type(TypeDescriptor::fixed("Bad", 2, &[5]))
        .unwrap_err();
    assert!(matches!(
        e,
        DescriptorError::PointerOutOfRange { index: 5, .. }
    ));
    assert_eq!(
        e.to_string(),
        "type `Bad`: pointer word 5 is outside its 2 payload words"
    );
}

#[test]
fn allocation_arguments_that_disagree_with_the_descriptor_are_errors() {
    let heap = Heap::new(Config::default());
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let e = m.try_alloc(t.node, 3).unwrap_err();
    assert!(matches!(e, GcAllocError::BadLength { .. }));
    assert_eq!(
        e.to_string(),
        "cannot allocate `Node` with length 3: fixed-size types are allocated with length 0"
    );
    let e = m.try_alloc(TypeId::clone(&t.node), 0).map(|_| ());
    assert!(e.is_ok());
    let e = m.try_alloc(t.pairs, usize::MAX / 2).unwrap_err();
    assert!(e.to_string().contains("cannot allocate `Pairs`"), "{e}");
    let other = Heap::new(Config::default());
    let foreign_type = other.register_type(TypeDescriptor::bytes("X")).unwrap();
    let _ = foreign_type;
    let unknown = Heap::new(Config::default());
    let mut m2 = unknown.attach().unwrap();
    let e = m2.try_alloc(t.tagged, 0).unwrap_err();
    assert!(matches!(e, GcAllocError::ForeignType(_)));
    assert!(e.to_string().contains("registered with another heap"));
}

#[test]
fn object_size_limit_is_an_error() {
    let heap = Heap::new(Config {
        max_object_size: 1 << 20,
        ..Config::default()
    });
    let bytes = heap.register_type(TypeDescriptor::bytes("Blob")).unwrap();
    let mut m = heap.attach().unwrap();
    let e = m.try_alloc(bytes, 2 << 20).unwrap_err();
    assert!(
        e.to_string().contains("exceeds the object size limit"),
        "{e}"
    );
    assert!(m.try_alloc(bytes, 1000).is_ok());
}

#[test]
fn attaching_twice_from_one_thread_is_refused() {
    let heap = Heap::new(Config::default());
    let _m = heap.attach().unwrap();
    let e = heap.attach().err().unwrap();
    assert_eq!(e, AttachError::AlreadyAttached);
    assert_eq!(
        e.to_string(),
        "this thread is already attached to this heap"
    );
    // Another heap is fine.
    let other = Heap::new(Config::default());
    assert!(other.attach().is_ok());
}

#[test]
#[should_panic(expected = "call Mutator::collect")]
fn heap_collect_from_a_running_mutators_thread_panics_instead_of_deadlocking() {
    let heap = Heap::new(Config::default());
    let _m = heap.attach().unwrap();
    heap.collect();
}

#[test]
#[should_panic(expected = "a mutator in native code touched the heap")]
fn touching_the_heap_in_native_state_panics() {
    let heap = Heap::new(Config::default());
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    m.enter_native();
    let _ = m.alloc(t.node, 0);
}

#[cfg(debug_assertions)]
mod debug_checks {
    use super::*;

    #[test]
    #[should_panic(expected = "field 3 of `Node` is not a pointer field")]
    fn storing_a_pointer_into_a_data_field_panics() {
        let heap = Heap::new(Config::default());
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let a = m.alloc(t.node, 0);
        // SAFETY (test): `a` is live. The store itself is what is checked.
        unsafe { m.store(a, 3, Some(a)) };
    }

    #[test]
    #[should_panic(expected = "field 4 of a `Node` with 4 payload words")]
    fn out_of_range_fields_panic() {
        let heap = Heap::new(Config::default());
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let a = m.alloc(t.node, 0);
        // SAFETY (test): `a` is live; the index is what is checked.
        unsafe { m.load(a, 4) };
    }

    #[test]
    #[should_panic(expected = "points inside the object")]
    fn storing_an_interior_pointer_panics() {
        let heap = Heap::new(Config::default());
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let a = m.alloc(t.node, 0);
        let inner = tricolor_collector::ObjRef::from_addr(a.addr() + 8);
        // SAFETY (test): `a` is live; the interior value is what is checked.
        unsafe { m.store(a, 0, inner) };
    }

    #[test]
    #[should_panic(expected = "is not an object of this heap")]
    fn storing_a_foreign_pointer_panics() {
        let heap = Heap::new(Config::default());
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let a = m.alloc(t.node, 0);
        let local = 0u64;
        let foreign = tricolor_collector::ObjRef::from_addr(&local as *const u64 as usize);
        // SAFETY (test): `a` is live; the foreign value is what is checked.
        unsafe { m.store(a, 0, foreign) };
    }
}

#[test]
fn a_type_id_from_another_heap_is_refused() {
    let a = Heap::new(Config::default());
    let b = Heap::new(Config::default());
    let ta = a
        .register_type(TypeDescriptor::fixed("A", 4, &[0]))
        .unwrap();
    b.register_type(TypeDescriptor::bytes("B")).unwrap();
    let mut m = b.attach().unwrap();
    let e = m.try_alloc(ta, 0).unwrap_err();
    assert!(matches!(e, GcAllocError::ForeignType(_)));
    assert!(
        e.to_string().contains("registered with another heap"),
        "{e}"
    );
}

#[test]
fn a_frame_left_in_native_state_still_pops_its_roots() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach().unwrap();
    m.frame(|m| {
        m.push_root(None);
        m.enter_native();
    });
    m.leave_native();
    assert_eq!(m.root_count(), 0);
}

#[test]
#[should_panic(expected = "Mutator::collect called in native state")]
fn collect_in_native_state_says_so() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach().unwrap();
    m.enter_native();
    m.collect();
}
