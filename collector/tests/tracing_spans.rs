//! The `tracing` feature: a span per phase of every cycle (inside a
//! `gc_cycle` span for cycles the collector thread runs) and an event at
//! each cycle's end, target `tricolor::gc`, seen by a subscriber of the
//! process. Runs with `cargo test -p tricolor-collector --features tracing
//! --test tracing_spans`.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tricolor_collector::{BarrierMode, Config, Heap};

/// What the subscriber saw: spans entered (by name, in order) and the
/// collector's events.
#[derive(Default)]
struct Seen {
    names: HashMap<u64, &'static str>,
    entered: Vec<&'static str>,
    ends: Vec<String>,
}

fn seen() -> &'static Mutex<Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

struct Recorder {
    next: AtomicU64,
}

impl Subscriber for Recorder {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target() == "tricolor::gc"
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        seen()
            .lock()
            .unwrap()
            .names
            .insert(id, attrs.metadata().name());
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, e: &Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        e.record(&mut m);
        seen().lock().unwrap().ends.push(m.0);
    }

    fn enter(&self, id: &Id) {
        let mut s = seen().lock().unwrap();
        let name = s.names[&id.into_u64()];
        s.entered.push(name);
    }

    fn exit(&self, _: &Id) {}
}

#[test]
fn spans_per_phase_and_an_event_per_cycle() {
    tracing::subscriber::set_global_default(Recorder {
        next: AtomicU64::new(0),
    })
    .unwrap();
    for mode in [BarrierMode::Hybrid, BarrierMode::Off] {
        {
            let mut s = seen().lock().unwrap();
            s.entered.clear();
            s.ends.clear();
        }
        let heap = Heap::new(Config {
            barrier: mode,
            ..Config::default()
        });
        heap.collect();
        heap.collect();
        let s = seen().lock().unwrap();
        let one = ["gc_cycle", "sweep_termination", "mark", "mark_termination"];
        let want: Vec<_> = one.iter().chain(&one).copied().collect();
        assert_eq!(s.entered, want, "{mode}");
        assert_eq!(s.ends.len(), 2, "{mode}");
        assert!(s.ends[1].starts_with("gc 2 @"), "{mode}: {}", s.ends[1]);
    }
}
