// SPDX-License-Identifier: GPL-2.0

//! The mm core's errors as errnos.

use crate::mm::error::Error as MmError;
use kernel::error::{code, Error};

impl From<MmError> for Error {
    fn from(e: MmError) -> Self {
        match e {
            MmError::NoMemory => code::ENOMEM,
            MmError::Invalid | MmError::Foreign | MmError::DoubleFree | MmError::WrongOrder => {
                code::EINVAL
            }
            MmError::Busy => code::EBUSY,
            MmError::Corrupted(_) => code::EIO,
        }
    }
}
