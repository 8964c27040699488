//! Misuse of the safe API does not compile: each case in `tests/ui/fail`
//! must fail with the message in its `.stderr` file, and its counterpart
//! in `tests/ui/pass` (the same program with the misuse removed) must
//! compile and run, so every failure is the misuse's and nothing else's.
//!
//! The `.stderr` files are the compiler's words (rustc 1.95); after a
//! toolchain update, regenerate them with `TRYBUILD=overwrite cargo test
//! --test ui` and read the diff.

#[test]
fn misuse_does_not_compile() {
    if std::env::var_os("TRICOLOR_UNDER_SANITIZER").is_some() {
        // Nothing to sanitize: this test only runs the compiler.
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
