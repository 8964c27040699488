//! The allocation path on its own, for counting its instructions: one
//! thread allocates `N` small fixed-size objects (two words, one a pointer)
//! and drops them, with cycles manual (none runs), so nothing but
//! `Mutator::alloc` and its report to the pacer is in the loop.
//!
//! ```sh
//! RUSTFLAGS="--cfg rustix_use_libc" cargo build --release -p tricolor-collector --example alloc_cost
//! valgrind --tool=callgrind --toggle-collect='*alloc_loop*' target/release/examples/alloc_cost 4000000
//! TRICOLOR_HEAP_PROFILE_RATE=524288 valgrind --tool=callgrind --toggle-collect='*alloc_loop*' \
//!     target/release/examples/alloc_cost 4000000
//! ```
//!
//! Divide the total (`callgrind_annotate`'s "PROGRAM TOTALS") by `N`: the
//! instructions per allocation, fast path and general path together. A
//! second argument `header-free` makes the type header-free
//! (`TypeDescriptor::header_free`: no header store).

use std::hint::black_box;

use tricolor_collector::{Config, Heap, Mutator, TypeDescriptor, TypeId};

#[inline(never)]
fn alloc_loop(m: &mut Mutator, ty: TypeId, n: u64) {
    for _ in 0..n {
        black_box(m.alloc(ty, 0));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 4_000_000,
    };
    let config = Config {
        manual_cycles: true,
        ..Config::from_env()?
    };
    let heap = Heap::new(config);
    let desc = TypeDescriptor::fixed("Pair", 2, &[0]);
    let pair = match std::env::args().nth(2).as_deref() {
        Some("header-free") => heap.register_type(desc.header_free())?,
        None => heap.register_type(desc)?,
        Some(other) => return Err(format!("unknown argument {other:?}").into()),
    };
    let mut m = heap.attach()?;
    alloc_loop(&mut m, pair, n);
    println!("{n} allocations");
    Ok(())
}
