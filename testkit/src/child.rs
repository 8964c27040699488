//! Running a measurement in a child process and getting its figures back.
//!
//! A benchmark that wants per-run process figures (peak RSS, CPU time) runs
//! each configuration as a child: this same binary again, with arguments that
//! say which run to do. The child prints whatever report it likes on standard
//! output and, last, its figures as **one line of JSON** with [`emit`]; the
//! parent starts it with [`run`] (or parses captured output with [`parse`])
//! and gets the figures back as any `serde` type: a derived struct, or a
//! [`serde_json::Value`]. The result line is the last line of standard output
//! that starts with `{`; every other line comes back as report text.
//! Standard error is left to the terminal.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tricolor_testkit::child;
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Figures {
//!     wall_ns: u64,
//!     peak_rss_kib: u64,
//! }
//!
//! // What a child printing a report line and then `emit(&figures)` writes:
//! let figures = Figures { wall_ns: 1_500, peak_rss_kib: 2_048 };
//! let stdout = format!("### a run\n{}\n", child::result_line(&figures));
//! // What the parent gets back:
//! let out: child::Output<Figures> = child::parse(&stdout).unwrap();
//! assert_eq!(out.lines, ["### a run"]);
//! assert_eq!(out.result, figures);
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read as _, Write as _};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a child printed: its report lines and its figures.
#[derive(Clone, Debug)]
pub struct Output<T> {
    /// Every line of standard output but the result line, in order.
    pub lines: Vec<String>,
    /// The figures of the result line.
    pub result: T,
}

/// Why a child gave no figures.
#[derive(Debug)]
pub enum Error {
    /// Starting it or reading its output failed.
    Io(std::io::Error),
    /// It ran past its time limit and was killed.
    TimedOut(Duration),
    /// It exited unsuccessfully (a panic, a failed assertion, a signal).
    Failed {
        /// How it ended.
        status: ExitStatus,
        /// Its standard output.
        stdout: String,
    },
    /// Its standard output has no result line.
    NoResult {
        /// Its standard output.
        stdout: String,
    },
    /// Its result line is not the JSON of the expected figures.
    BadResult {
        /// The line.
        line: String,
        /// What `serde_json` found wrong with it.
        error: serde_json::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "running the child: {e}"),
            Error::TimedOut(after) => {
                write!(f, "no result after {:.0} s: killed", after.as_secs_f64())
            }
            Error::Failed { status, stdout } => write!(f, "child failed: {status}\n{stdout}"),
            Error::NoResult { stdout } => write!(f, "child printed no result line\n{stdout}"),
            Error::BadResult { line, error } => write!(f, "bad result line ({error}): {line}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

/// The result line for `figures`: compact JSON, no newline.
///
/// # Panics
/// If `figures` does not serialize to a JSON object.
pub fn result_line(figures: &impl Serialize) -> String {
    let value = serde_json::to_value(figures).expect("figures serialize to JSON");
    assert!(value.is_object(), "a child's figures must be a JSON object");
    value.to_string()
}

/// Prints `figures` as the result line on standard output (call it last,
/// once), and flushes.
///
/// ```
/// # use tricolor_testkit::child;
/// child::emit(&serde_json::json!({ "cycles": 3, "pause_ns": [120, 340] }));
/// ```
pub fn emit(figures: &impl Serialize) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", result_line(figures)).expect("writing the result line");
    out.flush().expect("flushing standard output");
}

/// Splits a child's standard output into its report lines and its figures.
pub fn parse<T: DeserializeOwned>(stdout: &str) -> Result<Output<T>, Error> {
    let all: Vec<&str> = stdout.lines().collect();
    let Some(at) = all.iter().rposition(|l| l.starts_with('{')) else {
        return Err(Error::NoResult {
            stdout: stdout.to_string(),
        });
    };
    let result = serde_json::from_str(all[at]).map_err(|error| Error::BadResult {
        line: all[at].to_string(),
        error,
    })?;
    let lines = all
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != at)
        .map(|(_, l)| l.to_string())
        .collect();
    Ok(Output { lines, result })
}

/// Runs this executable again with `args` (standard input closed, standard
/// output captured, standard error inherited), waits for it at most
/// `timeout` (killing it past that), and returns what it printed.
///
/// ```no_run
/// use std::time::Duration;
/// use tricolor_testkit::child;
///
/// if std::env::args().nth(1).as_deref() == Some("--child") {
///     child::emit(&serde_json::json!({ "answer": 42 }));
///     return;
/// }
/// let out: child::Output<serde_json::Value> =
///     child::run(["--child"], Duration::from_secs(60)).unwrap();
/// assert_eq!(out.result["answer"], 42);
/// ```
pub fn run<T: DeserializeOwned>(
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    timeout: Duration,
) -> Result<Output<T>, Error> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // Read while waiting, so a child with a lot to say never blocks on a
    // full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::TimedOut(timeout));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().expect("the reader thread panicked")?;
    if !status.success() {
        return Err(Error::Failed { status, stdout });
    }
    parse(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_object_line_is_the_result() {
        let text = "a\n{\"x\": 1}\nb\n{\"x\": 2}\nc\n";
        let out: Output<serde_json::Value> = parse(text).unwrap();
        assert_eq!(out.result["x"], 2);
        assert_eq!(out.lines, ["a", "{\"x\": 1}", "b", "c"]);
    }

    #[test]
    fn missing_and_malformed_results() {
        assert!(matches!(
            parse::<serde_json::Value>("just a report\n"),
            Err(Error::NoResult { .. })
        ));
        assert!(matches!(
            parse::<serde_json::Value>("{not json\n"),
            Err(Error::BadResult { .. })
        ));
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Needs {
            field: u64,
        }
        assert!(matches!(
            parse::<Needs>("{\"other\": 1}\n"),
            Err(Error::BadResult { .. })
        ));
    }

    #[test]
    #[should_panic(expected = "JSON object")]
    fn figures_must_be_an_object() {
        result_line(&[1, 2, 3]);
    }
}
