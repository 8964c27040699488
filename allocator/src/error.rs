//! Allocation errors.

use std::fmt;

/// Why an allocation failed. Every failure is reported; none aborts.
#[derive(Debug)]
pub enum AllocError {
    /// A request for zero bytes. Objects have at least one word (the header).
    ZeroSize,
    /// A request larger than [`Config::max_object_size`](crate::Config::max_object_size).
    TooLarge {
        /// Bytes requested.
        requested: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Growing the heap would reserve more than
    /// [`Config::max_heap_bytes`](crate::Config::max_heap_bytes).
    HeapLimit {
        /// Bytes the heap would have reserved after growing.
        would_reserve: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The operating system refused to reserve or commit memory.
    Os {
        /// What was being done.
        operation: &'static str,
        /// Bytes involved.
        bytes: usize,
        /// The OS error.
        error: std::io::Error,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::ZeroSize => write!(f, "allocation of zero bytes"),
            AllocError::TooLarge { requested, limit } => write!(
                f,
                "allocation of {requested} bytes exceeds the object size limit of {limit} bytes"
            ),
            AllocError::HeapLimit {
                would_reserve,
                limit,
            } => write!(
                f,
                "heap limit reached: growing would reserve {would_reserve} bytes, limit is {limit}"
            ),
            AllocError::Os {
                operation,
                bytes,
                error,
            } => write!(
                f,
                "out of memory: {operation} of {bytes} bytes failed: {error}"
            ),
        }
    }
}

impl std::error::Error for AllocError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AllocError::Os { error, .. } => Some(error),
            _ => None,
        }
    }
}
