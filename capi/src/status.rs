//! Status codes, the thread's last error, and the guard every entry point
//! runs its body in: no Rust panic leaves this crate.
//!
//! An entry point's body returns `Result<T, Error>`; [`status`] and
//! [`value`] turn that into what C sees (a [`tricolor_status`], or a value
//! with a fallback), record the message of a failure as the calling
//! thread's last error, and catch any panic (a contract check in the
//! library that the call broke, or a bug) as `TRICOLOR_ERR_MISUSE` with the
//! panic's message. [`abort_on_panic`] is for the places where unwinding
//! would leave state half-changed (detaching, destroying a heap): there the
//! process stops with a message instead.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// What a call that can fail returns. `TRICOLOR_OK` is 0; every failure
/// also sets the calling thread's last error (`tricolor_last_error`).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum tricolor_status {
    /// Success.
    TRICOLOR_OK = 0,
    /// A required pointer argument was NULL.
    TRICOLOR_ERR_NULL = 1,
    /// A handle is not what the call expects (a freed handle, or another
    /// kind of pointer).
    TRICOLOR_ERR_INVALID_HANDLE = 2,
    /// A mutator handle was used from a thread other than the one that
    /// attached it.
    TRICOLOR_ERR_WRONG_THREAD = 3,
    /// The thread already has a mutator of this heap.
    TRICOLOR_ERR_ALREADY_ATTACHED = 4,
    /// The type id is not one this heap registered.
    TRICOLOR_ERR_BAD_TYPE = 5,
    /// A type description was rejected (pointer word out of range, empty
    /// array element, too many types).
    TRICOLOR_ERR_BAD_DESCRIPTOR = 6,
    /// An argument is out of range (a length, a configuration value, a
    /// malformed `TRICOLOR_*` variable).
    TRICOLOR_ERR_BAD_ARGUMENT = 7,
    /// An object pointer is not the start of a live object of this heap.
    TRICOLOR_ERR_BAD_OBJECT = 8,
    /// The allocator refused: an object over the size limit, the heap
    /// over its limit, or the system out of memory.
    TRICOLOR_ERR_OUT_OF_MEMORY = 9,
    /// A collection failed (a checkmark or verifier failure, a corrupt
    /// object); the heap runs no more cycles.
    TRICOLOR_ERR_COLLECTION_FAILED = 10,
    /// The call is not allowed in the current state (a mutator in native
    /// state touching the heap, a second finalizer, detaching a borrowed
    /// handle).
    TRICOLOR_ERR_STATE = 11,
    /// The call broke the API's contract in a way the library detected
    /// (a field index outside the object, a pointer load of a data word);
    /// the message says which.
    TRICOLOR_ERR_MISUSE = 12,
}

pub use tricolor_status::*;

/// A failure on its way to C: a status and a message.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: tricolor_status,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: tricolor_status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
}

/// The result of an entry point's body.
pub(crate) type Result<T> = std::result::Result<T, Error>;

thread_local! {
    /// The message of the last failed call on this thread (NUL-terminated).
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
    /// How deep this thread is in entry points: the panic hook stays quiet
    /// inside one (the panic becomes the call's error instead).
    static IN_CALL: Cell<u32> = const { Cell::new(0) };
    /// Where the last panic caught by an entry point happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records `message` as the calling thread's last error.
pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

/// Clears the calling thread's last error.
pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|e| *e.borrow_mut() = None);
}

/// The calling thread's last error, or NULL.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
}

/// Installs, once per process, a panic hook that says nothing about
/// panics caught by an entry point (they become the call's error) and
/// passes every other panic to the hook that was there before.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// The message a panic carried.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_string()
    }
}

/// Runs `f` as entry point `what`, catching a panic as `TRICOLOR_ERR_MISUSE`.
#[inline]
fn run<T>(what: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_hook();
    IN_CALL.with(|c| c.set(c.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    IN_CALL.with(|c| c.set(c.get() - 1));
    match r {
        Ok(r) => r,
        Err(payload) => {
            let at = PANIC_AT
                .with(|p| p.borrow_mut().take())
                .map_or(String::new(), |l| format!(" (at {l})"));
            Err(Error::new(
                TRICOLOR_ERR_MISUSE,
                format!("{what}: {}{at}", panic_message(&*payload)),
            ))
        }
    }
}

/// Runs the body of a status-returning entry point.
#[inline]
pub(crate) fn status(what: &'static str, f: impl FnOnce() -> Result<()>) -> tricolor_status {
    match run(what, f) {
        Ok(()) => TRICOLOR_OK,
        Err(e) => {
            set_last_error(&e.message);
            e.status
        }
    }
}

/// Runs the body of a value-returning entry point: on failure the last
/// error is set and `fallback` returned.
#[inline]
pub(crate) fn value<T>(what: &'static str, fallback: T, f: impl FnOnce() -> Result<T>) -> T {
    match run(what, f) {
        Ok(v) => v,
        Err(e) => {
            set_last_error(&e.message);
            fallback
        }
    }
}

/// Runs `f`, and stops the process with a message naming `what` if it
/// panics: for work that must not be left half done (detaching,
/// destroying), and for Rust code called from within C callbacks.
pub(crate) fn abort_on_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            eprintln!(
                "tricolor: fatal: {what} panicked: {}; the heap's state may be \
                 inconsistent, aborting",
                panic_message(&*payload)
            );
            std::process::abort();
        }
    }
}

/// The name of a status code as a static C string.
pub(crate) fn status_name(code: i32) -> &'static [u8] {
    match code {
        0 => b"TRICOLOR_OK\0",
        1 => b"TRICOLOR_ERR_NULL\0",
        2 => b"TRICOLOR_ERR_INVALID_HANDLE\0",
        3 => b"TRICOLOR_ERR_WRONG_THREAD\0",
        4 => b"TRICOLOR_ERR_ALREADY_ATTACHED\0",
        5 => b"TRICOLOR_ERR_BAD_TYPE\0",
        6 => b"TRICOLOR_ERR_BAD_DESCRIPTOR\0",
        7 => b"TRICOLOR_ERR_BAD_ARGUMENT\0",
        8 => b"TRICOLOR_ERR_BAD_OBJECT\0",
        9 => b"TRICOLOR_ERR_OUT_OF_MEMORY\0",
        10 => b"TRICOLOR_ERR_COLLECTION_FAILED\0",
        11 => b"TRICOLOR_ERR_STATE\0",
        12 => b"TRICOLOR_ERR_MISUSE\0",
        _ => b"(not a tricolor status)\0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_misuse_with_its_message() {
        let s = status("tricolor_test", || panic!("field 9 of a `Node`"));
        assert_eq!(s, TRICOLOR_ERR_MISUSE);
        // SAFETY: the pointer is the thread's last error, valid until the
        // next failing call on this thread.
        let msg = unsafe { std::ffi::CStr::from_ptr(last_error_ptr()) };
        let msg = msg.to_str().unwrap();
        assert!(
            msg.starts_with("tricolor_test: field 9 of a `Node`"),
            "{msg}"
        );
        assert!(msg.contains("status.rs"), "names where: {msg}");
    }

    #[test]
    fn errors_set_the_last_error_and_ok_leaves_it() {
        clear_last_error();
        assert!(last_error_ptr().is_null());
        assert_eq!(status("x", || Ok(())), TRICOLOR_OK);
        assert!(last_error_ptr().is_null());
        let v = value("y", 7, || {
            Err(Error::new(TRICOLOR_ERR_NULL, "y: heap is NULL"))
        });
        assert_eq!(v, 7);
        assert!(!last_error_ptr().is_null());
    }
}
