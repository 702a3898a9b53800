// SPDX-License-Identifier: GPL-2.0

//! Errors of the mm core. The kernel glue maps them to errnos.

use core::fmt;

/// Why an mm core operation failed. No operation that returns an error has
/// changed any state, unless its documentation says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Out of frames, slab objects or swap slots (`ENOMEM`).
    NoMemory,
    /// An argument is out of range: order above `MAX_ORDER`, index beyond a
    /// limit, object size too large (`EINVAL`).
    Invalid,
    /// The frame or object is not something this allocator handed out: outside
    /// the arena, a tail frame, a hole, another cache's object, a misaligned
    /// pointer (`EINVAL`).
    Foreign,
    /// The frame or object is already free (`EINVAL`).
    DoubleFree,
    /// A block freed with an order other than the one it was allocated with (`EINVAL`).
    WrongOrder,
    /// The page is shared, or its frame is in flux (reclaim cannot take it
    /// now; `EBUSY`).
    Busy,
    /// A debug check found memory written where nothing may write: a red zone
    /// or the poison of a freed object (`EIO`).
    Corrupted(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoMemory => f.write_str("out of memory"),
            Error::Invalid => f.write_str("invalid argument"),
            Error::Foreign => f.write_str("not allocated by this allocator"),
            Error::DoubleFree => f.write_str("double free"),
            Error::WrongOrder => f.write_str("freed with the wrong order"),
            Error::Busy => f.write_str("busy"),
            Error::Corrupted(what) => write!(f, "corruption: {what}"),
        }
    }
}

/// The result type of the mm core.
pub type Result<T = ()> = core::result::Result<T, Error>;
