//! Replays the `mutator_program` fuzz corpus (`fuzz/corpus/mutator_program/`)
//! through the fuzz target's logic under all three concurrent barrier modes,
//! so `cargo test` checks every seed and every crash ever minimised into the
//! corpus without cargo-fuzz or a nightly toolchain. The programs and the
//! properties checked are described in `fuzz/src/mutator_program/mod.rs`.
//!
//! `MUTATOR_PROGRAM_MODE=satb|incremental|hybrid` restricts the replay to one
//! mode; `MUTATOR_PROGRAM_TRACE=1` prints every operation.

#[path = "../../fuzz/src/mutator_program/mod.rs"]
mod mutator_program;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Fewer files than this means the corpus went missing, not that it passed.
const MIN_CORPUS_FILES: usize = 20;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mutator_program")
}

fn replay(data: &[u8]) {
    match mutator_program::mode_from_env() {
        Some(mode) => mutator_program::run_with_mode(data, mode),
        None => mutator_program::run_all_modes(data),
    }
}

#[test]
fn mutator_program_corpus() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a corpus entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_CORPUS_FILES,
        "{} holds {} files; expected at least {MIN_CORPUS_FILES}",
        dir.display(),
        files.len()
    );
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| replay(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} corpus inputs failed: {failed:#?}\n(to see one's program: \
         MUTATOR_PROGRAM_INPUT=FILE MUTATOR_PROGRAM_TRACE=1 cargo test -p tricolor-collector \
         --test mutator_program_corpus replay_one -- --nocapture)",
        failed.len(),
        files.len()
    );
}

/// The seed files are the programs `seeds()` builds: a change to the input
/// format must rewrite them (`write_seed_corpus`).
#[test]
fn seeds_are_in_the_corpus() {
    let dir = corpus_dir();
    for (name, bytes) in mutator_program::seeds() {
        let path = dir.join(format!("seed-{name}"));
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert!(
            on_disk == bytes,
            "{} is missing or out of date; rewrite the seeds with: cargo test -p \
             tricolor-collector --test mutator_program_corpus -- --ignored write_seed_corpus",
            path.display()
        );
    }
}

/// Writes the seed programs into the corpus as `seed-NAME`.
#[test]
#[ignore = "writes fuzz/corpus/mutator_program/seed-*; run it after changing the seeds"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("creating the corpus directory");
    for (name, bytes) in mutator_program::seeds() {
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Replays the file `MUTATOR_PROGRAM_INPUT` names, if set, under the mode its
/// header names (or `MUTATOR_PROGRAM_MODE`).
#[test]
fn replay_one() {
    if let Some(path) = std::env::var_os("MUTATOR_PROGRAM_INPUT") {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        mutator_program::run(&data);
    }
}
