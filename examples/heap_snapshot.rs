//! "What is in my heap, and why is this still alive?": a program with a
//! leak, and the two tools that find it.
//!
//! The program keeps a large tree of `Node`s (its live data) and a cache of
//! `Entry`s in a global. It opens sessions, caches each, and closes them
//! again, dropping its own handle, but one cache entry is never evicted:
//! that session leaks. The program then
//!
//! - writes a heap snapshot (open it in Chrome DevTools: Memory panel,
//!   "Load profile"; the Summary lists `Node`, `Entry` and `Session` with
//!   their counts and sizes, and selecting the `Session` shows its
//!   retainers up to `(GC roots)`), and
//! - asks the heap why the leaked session is alive, through a `Weak` kept
//!   to it: the retaining path names the global root and each field on the
//!   way, then the same question after the fix answers "nothing". It also
//!   asks about the tree's deepest leaf, the costliest question (the walk
//!   is breadth-first, and reaches that leaf last).
//!
//! It prints what each cost: the walk runs in the final pause of a cycle
//! the call forces, and the file is written after the world restarts.
//!
//! ```text
//! cargo run --release --example heap_snapshot -- [NODES] [FILE]   (default 1000000, heap.heapsnapshot)
//! ```

use std::fs::File;
use std::time::{Duration, Instant};

use tricolor::{Gc, Heap, Member, Mutator, Root, Trace};

/// The program's live data: a binary tree.
#[derive(Trace, Default)]
struct Node {
    left: Member<Node>,
    right: Member<Node>,
    value: u64,
}

/// What leaks.
#[derive(Trace, Default)]
struct Session {
    id: u64,
    scratch: [u64; 6],
}

/// A cache entry: a list cell holding a session.
#[derive(Trace, Default)]
struct Entry {
    next: Member<Entry>,
    session: Member<Session>,
}

/// A tree of `n` nodes.
fn tree(m: &mut Mutator, n: u64) -> Option<Root<Node>> {
    if n == 0 {
        return None;
    }
    let left = tree(m, (n - 1) / 2);
    let right = tree(m, n - 1 - (n - 1) / 2);
    let node = m.alloc(Node {
        value: n,
        ..Node::default()
    });
    let g = node.get(m);
    g.set(|n| &n.left, left.as_ref().map(|r| r.get(m)));
    g.set(|n| &n.right, right.as_ref().map(|r| r.get(m)));
    Some(node)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let nodes: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?.max(1);
    let out = args.next().unwrap_or_else(|| "heap.heapsnapshot".into());

    let heap = Heap::new();
    let mut m = heap.attach()?;
    let data = tree(&mut m, nodes);
    let cache = heap.global::<Entry>();
    // Sessions come and go; each is cached, and all but one entry are
    // evicted when the session closes.
    let mut leaked = None;
    for id in 0..100 {
        let session = m.alloc(Session {
            id,
            ..Session::default()
        });
        let entry = m.alloc(Entry::default());
        let e = entry.get(&m);
        e.set(|e| &e.session, Some(session.get(&m)));
        e.set(|e| &e.next, cache.get(&m));
        if id == 42 {
            // Cached, never evicted: the leak.
            cache.set(Some(e));
            leaked = Some(session.get(&m).weak());
        }
        // Closing the session drops the program's handle to it.
    }
    let leaked = leaked.expect("session 42 was opened");

    // A plain collection first: the pause a cycle has without the walk.
    m.collect();
    let plain = heap.stats().last_cycle.expect("a cycle ran");
    println!(
        "{} objects live; a plain cycle: final pause {}",
        plain.objects_marked,
        ms(plain.mark_termination)
    );

    let t = Instant::now();
    let summary = m.write_heap_snapshot(std::io::BufWriter::new(File::create(&out)?))?;
    let total = t.elapsed();
    let cycle = heap.stats().last_cycle.expect("a cycle ran");
    let size = std::fs::metadata(&out)?.len();
    println!(
        "snapshot: {} objects, {} edges, {} root edges -> {out} ({:.1} MiB); \
         walk {} inside a final pause of {}; {} in all",
        summary.objects,
        summary.edges,
        summary.root_edges,
        size as f64 / (1 << 20) as f64,
        ms(summary.walk),
        ms(cycle.mark_termination),
        ms(total)
    );

    let t = Instant::now();
    let path = m.retaining_path(&leaked);
    let took = t.elapsed();
    let cycle = heap.stats().last_cycle.expect("a cycle ran");
    match &path {
        Some(p) => println!("session 42 is alive because of: {p}"),
        None => println!("session 42 is garbage"),
    }
    println!(
        "retaining path: {} in all, final pause {}",
        ms(took),
        ms(cycle.mark_termination)
    );

    // The costliest question: a leaf at the bottom of the tree, which the
    // breadth-first walk reaches last.
    let deep = {
        let mut cur = data.as_ref().expect("a tree").get(&m);
        while let Some(l) = cur.get(|n| &n.left) {
            cur = l;
        }
        cur.weak()
    };
    let t = Instant::now();
    let steps = m.retaining_path(&deep).map_or(0, |p| p.len());
    let took = t.elapsed();
    let cycle = heap.stats().last_cycle.expect("a cycle ran");
    println!(
        "retaining path of the deepest leaf ({steps} steps): {} in all, final pause {}",
        ms(took),
        ms(cycle.mark_termination)
    );

    // The fix: evict the entry.
    cache.set(None);
    let path = m.retaining_path(&leaked);
    println!(
        "after evicting it: {}",
        path.map_or("garbage (no root reaches it)".to_string(), |p| p
            .to_string())
    );
    let root: Option<Gc<'_, Node>> = data.as_ref().map(|r| r.get(&m));
    assert_eq!(root.map(|r| r.value), Some(nodes));
    Ok(())
}
