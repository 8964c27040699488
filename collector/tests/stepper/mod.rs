//! A `CycleStepper` driven from a helper thread, one step at a time, while
//! the test's mutator waits in native code: every step happens at an exact
//! point of the mutator's program. Shared by the finalizer, weak-reference
//! and ephemeron tests.
#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{self, JoinHandle};

use tricolor_collector::{CycleStats, Heap, Mutator};

/// Collector steps the helper thread performs.
#[derive(Copy, Clone, Debug)]
pub enum Step {
    /// `Heap::begin_cycle` (sweep termination).
    Begin,
    /// Every mutator's stack, by handshake.
    ScanStacks,
    /// The global roots (and the finalizer queue, cleanup arguments).
    ScanGlobals,
    /// Drain the grey set until it is empty.
    MarkAll,
    /// Flush every barrier buffer by handshake.
    FlushBuffers,
    /// One ephemeron pass.
    EphemeronPass,
    /// The finalizer stage.
    FinalizerStage,
    /// The rest of the cycle: mark termination, checkmark, verifier.
    Finish,
}

/// What a step reported.
pub enum Reply {
    /// A count: objects marked (`MarkAll`), values held (`FlushBuffers`),
    /// values shaded (`EphemeronPass`), cycles found (`FinalizerStage`).
    Count(u64),
    /// The stats of the finished cycle.
    Stats(Box<CycleStats>),
}

impl Reply {
    pub fn count(self) -> u64 {
        match self {
            Reply::Count(n) => n,
            Reply::Stats(_) => panic!("not a counting step"),
        }
    }

    pub fn stats(self) -> CycleStats {
        match self {
            Reply::Stats(s) => *s,
            Reply::Count(_) => panic!("not the finishing step"),
        }
    }
}

/// The helper thread that owns the stepper. A step that panics (checkmark
/// or the verifier failing in `Finish`) is reported as `Err` with the panic
/// message, and the helper stops.
pub struct Collector {
    steps: Sender<Step>,
    done: Receiver<Result<Reply, String>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    pub fn new(heap: &Heap) -> Collector {
        let (steps, rx) = channel::<Step>();
        let (tx, done) = channel();
        let heap = heap.clone();
        let thread = thread::spawn(move || {
            let mut cycle = None;
            for step in rx {
                let r = catch_unwind(AssertUnwindSafe(|| match step {
                    Step::Begin => {
                        cycle = Some(heap.begin_cycle());
                        Reply::Count(0)
                    }
                    Step::Finish => {
                        let stepper = cycle.take().expect("Begin first");
                        Reply::Stats(Box::new(stepper.finish()))
                    }
                    step => {
                        let c = cycle.as_mut().expect("Begin first");
                        Reply::Count(match step {
                            Step::ScanStacks => {
                                c.scan_stacks();
                                0
                            }
                            Step::ScanGlobals => {
                                c.scan_globals();
                                0
                            }
                            Step::MarkAll => {
                                let mut total = 0;
                                loop {
                                    match c.mark(1000) {
                                        0 => break total,
                                        n => total += n as u64,
                                    }
                                }
                            }
                            Step::FlushBuffers => c.flush_buffers() as u64,
                            Step::EphemeronPass => c.ephemeron_pass() as u64,
                            Step::FinalizerStage => c.finalizer_stage(),
                            Step::Begin | Step::Finish => unreachable!(),
                        })
                    }
                }));
                let failed = r.is_err();
                let sent = tx.send(r.map_err(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                }));
                if failed || sent.is_err() {
                    return;
                }
            }
        });
        Collector {
            steps,
            done,
            thread: Some(thread),
        }
    }

    /// Runs `step` while the mutator waits in native code.
    pub fn step(&self, m: &mut Mutator, step: Step) -> Result<Reply, String> {
        m.native(|| {
            self.steps
                .send(step)
                .map_err(|_| "the collector thread stopped")?;
            self.done
                .recv()
                .map_err(|_| "the collector thread stopped".to_string())?
        })
    }

    /// Runs the finalizer stage; returns the candidates found reaching
    /// themselves.
    pub fn stage(&self, m: &mut Mutator) -> u64 {
        self.count(m, Step::FinalizerStage)
    }

    /// Finishes the cycle, which must succeed; returns its stats.
    pub fn finish(&self, m: &mut Mutator) -> CycleStats {
        self.step(m, Step::Finish)
            .unwrap_or_else(|e| panic!("Finish failed: {e}"))
            .stats()
    }

    /// Runs `step`, which must succeed; returns its count.
    pub fn count(&self, m: &mut Mutator, step: Step) -> u64 {
        self.step(m, step)
            .unwrap_or_else(|e| panic!("{step:?} failed: {e}"))
            .count()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let (tx, _) = channel();
        drop(std::mem::replace(&mut self.steps, tx));
        // A failing test unwinds with its mutator still attached; the helper
        // may need that mutator's safepoint to end the cycle, so it is not
        // waited for then.
        if let Some(t) = self.thread.take() {
            if !thread::panicking() {
                let _ = t.join();
            }
        }
    }
}
