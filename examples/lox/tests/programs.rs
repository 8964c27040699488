//! Runs the Lox programs in `tests/lox/` by their `// expect:` comments,
//! on heaps in several configurations (every barrier mode, gc-stress, the
//! verification modes).

use std::num::NonZeroU32;
use std::path::Path;

use tricolor::raw::{BarrierMode, Config, Heap};

struct Expect {
    out: Vec<String>,
    runtime_error: Option<(String, usize)>,
}

fn expectations(src: &str) -> Expect {
    let mut out = Vec::new();
    let mut runtime_error = None;
    for (i, line) in src.lines().enumerate() {
        if let Some((_, e)) = line.split_once("// expect: ") {
            out.push(e.to_string());
        }
        if let Some((_, e)) = line.split_once("// expect runtime error: ") {
            runtime_error = Some((e.to_string(), i + 1));
        }
    }
    Expect { out, runtime_error }
}

fn run_all(config: impl Fn() -> Config) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lox");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let want = expectations(&src);
        let heap = Heap::new(config());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = lox::run(&heap, src.as_bytes(), &mut out, &mut err);
        let out = String::from_utf8(out).unwrap();
        let err = String::from_utf8(err).unwrap();
        let name = path.display();
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            want.out,
            "{name}: stdout (stderr: {err})"
        );
        match want.runtime_error {
            None => assert_eq!(outcome, lox::Outcome::Ok, "{name}: {err}"),
            Some((msg, line)) => {
                assert_eq!(outcome, lox::Outcome::RuntimeError, "{name}");
                let mut lines = err.lines();
                assert_eq!(lines.next(), Some(msg.as_str()), "{name}");
                assert!(
                    lines.next().unwrap().starts_with(&format!("[line {line}]")),
                    "{name}: {err}"
                );
            }
        }
    }
}

#[test]
fn programs_pass_with_the_default_heap() {
    run_all(Config::default);
}

#[test]
fn programs_pass_in_every_barrier_mode() {
    for barrier in [
        BarrierMode::Satb,
        BarrierMode::IncrementalUpdate,
        BarrierMode::Off,
    ] {
        run_all(|| Config {
            barrier,
            ..Config::default()
        });
    }
}

#[test]
fn programs_pass_under_gc_stress_and_verification() {
    run_all(|| Config {
        gc_stress: NonZeroU32::new(50),
        checkmark: true,
        verify: true,
        poison: true,
        ..Config::default()
    });
}

#[test]
fn compile_errors_are_reported_as_clox_does() {
    let heap = Heap::new(Config::default());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let src = b"var a = ;\nprint this;\nreturn 1;";
    let outcome = lox::run(&heap, src, &mut out, &mut err);
    assert_eq!(outcome, lox::Outcome::CompileError);
    assert_eq!(outcome.exit_code(), 65);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "[line 1] Error at ';': Expect expression.\n\
         [line 2] Error at 'this': Can't use 'this' outside of a class.\n\
         [line 3] Error at 'return': Can't return from top-level code.\n"
    );
}
