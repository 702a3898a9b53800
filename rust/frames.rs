// SPDX-License-Identifier: GPL-2.0

//! The arena's frames in the kernel: blocks of pages from `alloc_pages`, and
//! the mm core's [`FrameMemory`] over them.

use crate::mm::memory::{FrameMemory, Pfn, PhysAddr, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::{alloc::KVVec, bindings, prelude::*};

extern "C" {
    /// `page_address()` (static inline in C), from `rust/helpers.c`. Takes a
    /// `struct page *` (as `c_void`: its bindgen type is not FFI-safe).
    fn pagearena_page_address(page: *const core::ffi::c_void) -> *mut core::ffi::c_void;
    /// `virt_to_pfn()` (static inline in C), from `rust/helpers.c`.
    fn pagearena_virt_to_pfn(addr: *const core::ffi::c_void) -> usize;
}

/// How the arena asks for memory: no warning and no OOM killer when it is
/// not there (`__GFP_NORETRY`): the load fails with `ENOMEM` instead.
const ARENA_GFP: bindings::gfp_t =
    bindings::GFP_KERNEL | bindings::__GFP_NOWARN | (1 << bindings::___GFP_NORETRY_BIT);

/// The largest block asked of the page allocator: 2^10 pages, 4 MiB.
const BLOCK_MAX_ORDER: u32 = 10;

/// A block of 2^`order` pages from `alloc_pages`, freed when dropped.
///
/// # Invariants
///
/// `page` was returned by `alloc_pages(_, order)` and is owned by this block.
struct Block {
    page: *mut bindings::page,
    order: u32,
}

// SAFETY: A block is owned memory; the pointer is used only to free it, which
// any thread may do.
unsafe impl Send for Block {}
// SAFETY: `&Block` gives no access to the pointer.
unsafe impl Sync for Block {}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the block came from `alloc_pages` with
        // this order and is owned here, so it is freed exactly once.
        unsafe { bindings::__free_pages(self.page, self.order) };
    }
}

/// The arena's frames: `nr_frames` pages, in as few blocks as the page
/// allocator gives, addressed by arena pfn.
///
/// # Invariants
///
/// `addrs[pfn]` is the direct-map address of a page of one of `blocks`, and
/// every page of every block appears exactly once in `addrs`. The pages stay
/// allocated for as long as `self` lives.
pub struct KernelFrames {
    addrs: KVVec<usize>,
    _blocks: KVVec<Block>,
}

impl KernelFrames {
    /// Allocates `nr_frames` pages, in blocks of up to 4 MiB (smaller when
    /// the page allocator has no large block free). `ENOMEM`, with nothing
    /// kept, when the memory is not there.
    pub fn new(nr_frames: usize) -> Result<Self> {
        Self::new_failing_at(nr_frames, None)
    }

    /// [`KernelFrames::new`], failing with `ENOMEM` when about to take block
    /// number `fail_at` (fault injection for the tests of the unwinding).
    ///
    /// Nothing here can wake the OOM killer: every bookkeeping allocation is
    /// made before the first page is taken, and pages are asked with
    /// `__GFP_NORETRY`. The block list has room for blocks of 64 pages on
    /// average; memory so fragmented that it needs more blocks is `ENOMEM`.
    pub fn new_failing_at(nr_frames: usize, fail_at: Option<usize>) -> Result<Self> {
        let mut addrs = KVVec::with_capacity(nr_frames, GFP_KERNEL)?;
        let mut blocks = KVVec::with_capacity(nr_frames.div_ceil(64) + 16, GFP_KERNEL)?;
        let mut order = BLOCK_MAX_ORDER;
        while addrs.len() < nr_frames {
            let left = nr_frames - addrs.len();
            while order > 0 && (1usize << order) > left {
                order -= 1;
            }
            if blocks.len() == blocks.capacity() || fail_at == Some(blocks.len()) {
                return Err(ENOMEM);
            }
            // SAFETY: `alloc_pages` may be called with any flags and order.
            let page = unsafe { bindings::alloc_pages(ARENA_GFP, order) };
            if page.is_null() {
                if order == 0 {
                    return Err(ENOMEM);
                }
                order -= 1;
                continue;
            }
            // INVARIANT: `page` heads a block of 2^order pages we now own.
            let block = Block { page, order };
            // SAFETY: `page` is a valid page from `alloc_pages`; on x86-64 every
            // page is in the direct map, so `page_address` is its address.
            let base = unsafe { pagearena_page_address(block.page.cast()) } as usize;
            // Both have room (checked above; `addrs` has room for every
            // frame), so neither allocates.
            if blocks.push_within_capacity(block).is_err() {
                return Err(ENOMEM);
            }
            for i in 0..1usize << order {
                if addrs.push_within_capacity(base + i * PAGE_SIZE).is_err() {
                    return Err(ENOMEM);
                }
            }
        }
        Ok(Self {
            addrs,
            _blocks: blocks,
        })
    }

    /// The direct-map address of frame `pfn`.
    fn page(&self, pfn: Pfn) -> Option<usize> {
        self.addrs.get(pfn.idx()).copied()
    }

    /// The kernel's page frame number of arena frame `pfn`: what a PTE
    /// mapping it holds.
    pub fn kernel_pfn(&self, pfn: Pfn) -> Option<usize> {
        let addr = self.page(pfn)?;
        // SAFETY: `addr` is a direct-map address of a page we own (type
        // invariant); `virt_to_pfn` only computes with it.
        Some(unsafe { pagearena_virt_to_pfn(addr as *const core::ffi::c_void) })
    }

    /// The kernel address of arena address `addr`.
    pub fn virt(&self, addr: PhysAddr) -> Option<*mut u8> {
        Some((self.page(addr.pfn())? + addr.offset()) as *mut u8)
    }

    /// The word at `addr`, as an atomic.
    fn word(&self, addr: PhysAddr) -> Option<&AtomicU64> {
        let base = self.page(addr.pfn())?;
        if addr.offset() % 8 != 0 {
            return None;
        }
        let ptr = (base + addr.offset()) as *mut u64;
        // SAFETY: `ptr` is 8-byte aligned and inside a page that stays
        // allocated while `self` (and so the returned reference) lives, by
        // the type invariant. The core accesses arena words only through
        // these atomics, so there is no non-atomic concurrent access.
        Some(unsafe { AtomicU64::from_ptr(ptr) })
    }
}

impl KernelFrames {
    /// Copies `buf.len()` bytes at byte `at` of frame `pfn` into `buf`
    /// (`None` if that is not inside the frame).
    pub fn read_bytes(&self, pfn: Pfn, at: usize, buf: &mut [u8]) -> Option<()> {
        let p = self.page(pfn)?;
        if at.checked_add(buf.len())? > PAGE_SIZE {
            return None;
        }
        // SAFETY: `p + at .. p + at + len` is inside a page owned by `self`
        // (type invariant; bounds checked above), which stays allocated while
        // `self` lives; `buf` is a distinct kernel buffer. User space may
        // write the page concurrently through its mapping, as with any
        // shared memory: the bytes read are some mix of before and after.
        unsafe {
            core::ptr::copy_nonoverlapping((p + at) as *const u8, buf.as_mut_ptr(), buf.len())
        };
        Some(())
    }

    /// Copies `buf` to byte `at` of frame `pfn` (`None` if that is not
    /// inside the frame).
    pub fn write_bytes(&self, pfn: Pfn, at: usize, buf: &[u8]) -> Option<()> {
        let p = self.page(pfn)?;
        if at.checked_add(buf.len())? > PAGE_SIZE {
            return None;
        }
        // SAFETY: As in `read_bytes`, the other way round; the caller holds
        // the frame for writing (a write fault made it the page's frame).
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), (p + at) as *mut u8, buf.len()) };
        Some(())
    }
}

impl FrameMemory for KernelFrames {
    fn nr_frames(&self) -> usize {
        self.addrs.len()
    }

    fn load(&self, addr: PhysAddr) -> u64 {
        match self.word(addr) {
            Some(w) => w.load(Relaxed),
            None => {
                kernel::warn_on!(true);
                0
            }
        }
    }

    fn store(&self, addr: PhysAddr, value: u64) {
        match self.word(addr) {
            Some(w) => w.store(value, Relaxed),
            None => {
                kernel::warn_on!(true);
            }
        }
    }

    fn clear_page(&self, pfn: Pfn) {
        match self.page(pfn) {
            // SAFETY: `p` is a whole page owned by `self` (type invariant); the
            // core clears only frames no one else is using.
            Some(p) => unsafe { core::ptr::write_bytes(p as *mut u8, 0, PAGE_SIZE) },
            None => {
                kernel::warn_on!(true);
            }
        }
    }

    fn copy_page(&self, dst: Pfn, src: Pfn) {
        match (self.page(dst), self.page(src)) {
            // SAFETY: both are whole pages owned by `self` (type invariant), and
            // distinct pfns are distinct pages, so the copies cannot overlap.
            (Some(d), Some(s)) if d != s => unsafe {
                core::ptr::copy_nonoverlapping(s as *const u8, d as *mut u8, PAGE_SIZE)
            },
            _ => {
                kernel::warn_on!(true);
            }
        }
    }
}

/// Pages the kernel could give without swapping (`MemAvailable`).
pub fn available_pages() -> usize {
    // SAFETY: `si_mem_available` only reads counters.
    let n = unsafe { bindings::si_mem_available() };
    usize::try_from(n).unwrap_or(0)
}
