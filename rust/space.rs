// SPDX-License-Identifier: GPL-2.0

//! Address spaces: each `open()` of `/dev/pagearena` creates one.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
};

/// Source of space ids; ids are never reused while the module is loaded.
static NEXT_SPACE_ID: AtomicU64 = AtomicU64::new(1);

/// An address space: the private data of one open file of `/dev/pagearena`.
pub struct Space {
    /// Unique id of this space, shown in statistics.
    pub id: u64,
}

#[vtable]
impl MiscDevice for Space {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        let id = NEXT_SPACE_ID.fetch_add(1, Ordering::Relaxed);
        Ok(KBox::new(Space { id }, GFP_KERNEL)?)
    }

    fn ioctl(space: &Space, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        crate::ioctl::dispatch(space, cmd, arg)
    }
}
