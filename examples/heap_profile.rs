//! Finding a leak with a heap profile. A toy request handler parses each
//! request into short-lived tokens (garbage at once) and, by mistake,
//! remembers every session it opens in a list nothing ever prunes. The
//! heap profile, read with Go's `pprof`, names the function that
//! allocated what is still in use.
//!
//! ```text
//! cargo run --release --example heap_profile -- heap.pb.gz
//! go tool pprof -top -sample_index=inuse_space heap.pb.gz    # remember_session first
//! go tool pprof -top -sample_index=alloc_space heap.pb.gz    # parse_request first
//! ```
//!
//! Sampling is on at `TRICOLOR_HEAP_PROFILE_RATE` if set, Go's 512 KiB
//! otherwise; `TRICOLOR_HEAP_PROFILE=FILE` would also write the profile when
//! the heap goes, with no code at all.

use std::fs::File;
use std::io::BufWriter;

use tricolor::raw::DEFAULT_HEAP_PROFILE_RATE;
use tricolor::{Heap, Member, Mutator, Root, Trace};

/// A parsed token: garbage as soon as the request is handled.
#[derive(Trace)]
struct Token {
    next: Member<Token>,
    value: i64,
}

/// An open session, remembered in a list that only grows: the leak.
#[derive(Trace)]
struct Session {
    next: Member<Session>,
    id: i64,
    started: i64,
    bytes_in: i64,
    bytes_out: i64,
}

/// The head of the session list.
#[derive(Trace, Default)]
struct Sessions {
    first: Member<Session>,
}

#[inline(never)]
fn parse_request(m: &mut Mutator, id: i64) -> i64 {
    let mut sum = 0;
    for i in 0..16 {
        let t = m.alloc(Token {
            next: Member::null(),
            value: id ^ i,
        });
        sum += t.get(m).value;
    }
    sum
}

#[inline(never)]
fn remember_session(m: &mut Mutator, sessions: &Root<Sessions>, id: i64) {
    let s = m.alloc(Session {
        next: Member::null(),
        id,
        started: id * 3,
        bytes_in: 0,
        bytes_out: 0,
    });
    let (list, s) = (sessions.get(m), s.get(m));
    if let Some(first) = list.get(|l| &l.first) {
        s.set(|s| &s.next, Some(first));
    }
    list.set(|l| &l.first, Some(s));
}

#[inline(never)]
fn handle_request(m: &mut Mutator, sessions: &Root<Sessions>, id: i64) -> i64 {
    let checksum = parse_request(m, id);
    remember_session(m, sessions, id);
    checksum
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "heap.pb.gz".into());
    let heap = Heap::from_env();
    if heap.heap_profile_rate().is_none() {
        heap.set_heap_profile_rate(Some(DEFAULT_HEAP_PROFILE_RATE));
    }
    let mut m = heap.attach()?;
    let sessions = m.alloc(Sessions::default());
    let mut checksum = 0i64;
    for id in 0..300_000 {
        checksum = checksum.wrapping_add(handle_request(&mut m, &sessions, id));
    }
    // Collect, so that the tokens' samples are freed, then write.
    m.collect();
    let summary = heap.write_heap_profile(BufWriter::new(File::create(&path)?))?;
    println!(
        "{path}: {} samples; in use about {} objects, {} bytes; allocated about {} objects, {} bytes (checksum {checksum})",
        summary.samples,
        summary.inuse_objects,
        summary.inuse_bytes,
        summary.alloc_objects,
        summary.alloc_bytes
    );
    drop(sessions);
    Ok(())
}
