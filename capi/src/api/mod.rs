//! The entry points: every `extern "C"` function, each a thin mapping onto
//! one call of the Rust API (`tricolor_collector`), in the guard of
//! `status` (no panic crosses) with its arguments checked by `handle`.

use std::ffi::c_char;

use crate::status;

pub mod heap;
pub mod mutator;
pub mod specials;

/// The message of the last call that failed on the calling thread, or NULL
/// if none has (or since `tricolor_clear_error`). Successful calls leave
/// it as it was, so read it right after the call that failed.
///
/// Ownership: the string belongs to the library; it stays valid until the
/// next failing call on this thread, or `tricolor_clear_error`. Any thread
/// (each has its own). Not a GC point.
#[no_mangle]
pub extern "C" fn tricolor_last_error() -> *const c_char {
    status::last_error_ptr()
}

/// Clears the calling thread's last error (`tricolor_last_error` returns
/// NULL until a call fails).
///
/// Any thread. Not a GC point.
#[no_mangle]
pub extern "C" fn tricolor_clear_error() {
    status::clear_last_error();
}

/// The name of a status code (`"TRICOLOR_ERR_NULL"`), for messages.
///
/// Ownership: a static string. Any thread. Not a GC point.
#[no_mangle]
pub extern "C" fn tricolor_status_name(status: i32) -> *const c_char {
    status::status_name(status).as_ptr().cast()
}
