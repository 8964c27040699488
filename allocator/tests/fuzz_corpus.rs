//! Replays the `allocator_ops` fuzz corpus (`fuzz/corpus/allocator_ops/`)
//! through the fuzz target's logic, so `cargo test` checks every seed and
//! every crash ever minimised into the corpus without cargo-fuzz or a nightly
//! toolchain. The programs and the properties checked are described in
//! `fuzz/src/allocator_ops.rs`.

#[path = "../../fuzz/src/allocator_ops.rs"]
mod allocator_ops;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Fewer files than this means the corpus went missing, not that it passed.
const MIN_CORPUS_FILES: usize = 20;

#[test]
fn allocator_ops_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/allocator_ops");
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
        if catch_unwind(AssertUnwindSafe(|| allocator_ops::run(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} corpus inputs failed: {failed:#?}\n(to see one's program: \
         cd fuzz && ALLOCATOR_OPS_TRACE=1 RUSTC_BOOTSTRAP=1 cargo fuzz run allocator_ops FILE)",
        failed.len(),
        files.len()
    );
}
