//! `lox FILE`: runs a Lox program on tricolor's heap, configured from the
//! environment (`TRICOLOR_BARRIER`, `TRICOLOR_GCTRACE`, `TRICOLOR_GCSTRESS`,
//! ...); `LOX_GC_SUMMARY=1` prints the collector's cycle count and pauses to
//! standard error at exit. Exit codes as clox's: 65 for a compile error, 70 for a runtime
//! error, 74 for an unreadable file, 64 for bad usage.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use tricolor::raw::Heap;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("Usage: lox path");
        return ExitCode::from(64);
    }
    let src = match std::fs::read(&args[1]) {
        Ok(s) => s,
        Err(_) => {
            eprintln!("Could not open file \"{}\".", args[1]);
            return ExitCode::from(74);
        }
    };
    let heap = Heap::from_env();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let outcome = lox::run(&heap, &src, &mut out, &mut err);
    let _ = out.flush();
    if std::env::var_os("LOX_GC_SUMMARY").is_some() {
        let st = heap.stats();
        eprintln!(
            "gc: {} cycles, max pause {} us, pause total {} us",
            st.cycles,
            st.pause_max.as_micros(),
            st.pause_total.as_micros()
        );
    }
    ExitCode::from(outcome.exit_code() as u8)
}
