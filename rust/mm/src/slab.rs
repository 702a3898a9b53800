// SPDX-License-Identifier: GPL-2.0

//! Slab caches for the arena's own objects (`mm/slub.c`).
//!
//! A cache hands out objects of one size. It carves them from *slabs*: blocks
//! of 2^order frames from a [`PageAllocator`]. Each slab keeps a free list of
//! its objects (the index of the next free object is stored in each free
//! object, the "free pointer"), and the cache keeps its slabs on three lists:
//! *full* (no free object), *partial* and *empty* (no object in use). Empty
//! slabs beyond a reserve of [`EMPTY_SLAB_RESERVE`] go back to the page
//! allocator.
//!
//! Objects live in arena frames and are named by their [`PhysAddr`]; their
//! contents are read and written with [`FrameMemory`].
//!
//! In debug mode ([`SlabCache::new`] with `debug`, as with `slub_debug=FZP`)
//! each object is laid out as
//!
//! ```text
//! | red zone | object (size rounded up to 8) | red zone | tag + free pointer |
//! ```
//!
//! Freed objects are filled with [`POISON_FREE`]. Freeing an object whose tag
//! says "free" is a double free; a red zone or a poisoned word that changed is
//! an out-of-bounds write or a write after free. All are reported as errors
//! (and repaired, so the cache stays usable).

use super::buddy::PageAllocator;
use super::error::{Error, Result};
use super::frame::{Frame, FrameState, NIL};
use super::list::FrameList;
use super::memory::{FrameMemory, Pfn, PhysAddr, PAGE_SIZE};
use core::fmt;
use core::num::NonZeroUsize;

/// Largest slab order.
pub const SLAB_MAX_ORDER: u32 = 3;
/// Empty slabs a cache keeps instead of returning them (`min_partial`).
pub const EMPTY_SLAB_RESERVE: usize = 1;
/// What a freed object is filled with in debug mode (`POISON_FREE`, 0x6b).
pub const POISON_FREE: u64 = 0x6b6b_6b6b_6b6b_6b6b;
/// What red zones hold in debug mode (`SLUB_RED_ACTIVE`, 0xcc).
pub const RED_ZONE: u64 = 0xcccc_cccc_cccc_cccc;
const TAG_FREE: u64 = 0xf7ee_0000;
const TAG_ALLOC: u64 = 0xa110_0000;

/// An object constructor: called once on each object when its slab is
/// created, with the object's address and size. Objects must be returned to
/// the cache in their constructed state (as with `kmem_cache_create`'s `ctor`).
pub type Ctor = fn(&dyn FrameMemory, PhysAddr, usize);

/// A slab cache (`struct kmem_cache`).
///
/// # Invariants
///
/// Every slab of this cache is a block of 2^`order` frames whose head frame is
/// in state [`FrameState::Slab`] with owner `id`, objects in use in `count`
/// and the index of its first free object (or [`NIL`]) in `private`; its other
/// frames are [`FrameState::SlabTail`] with the head's pfn in `private`. A slab
/// is on `full` iff all `objects` are in use, on `empty` iff none is, on
/// `partial` otherwise. `active_objs` is the sum of the slabs' counts.
#[derive(Debug)]
pub struct SlabCache {
    name: &'static str,
    id: u32,
    object_size: usize,
    stride: NonZeroUsize,
    /// `ceil(2^32 / stride)`: `offset / stride` as a multiply (`reciprocal_divide`).
    stride_recip: u64,
    obj_offset: usize,
    free_ptr: usize,
    order: u32,
    objects: u32,
    debug: bool,
    poison: bool,
    ctor: Option<Ctor>,
    partial: FrameList,
    full: FrameList,
    empty: FrameList,
    active_objs: usize,
    nr_slabs: usize,
    total_allocs: u64,
    total_frees: u64,
}

impl SlabCache {
    /// Creates a cache of objects of `size` bytes aligned to `align` (a power
    /// of two; at least 8 is used). `id` must be unique among the caches that
    /// share a page allocator: it marks the cache's slabs in the frame table.
    pub fn new(
        name: &'static str,
        id: u32,
        size: usize,
        align: usize,
        ctor: Option<Ctor>,
        debug: bool,
    ) -> Result<Self> {
        if size == 0 || !align.is_power_of_two() || align > PAGE_SIZE {
            return Err(Error::Invalid);
        }
        let align = align.max(8);
        let words = size.div_ceil(8) * 8;
        let red = if debug { align } else { 0 };
        let obj_offset = red;
        let mut end = obj_offset + words;
        if debug {
            end += 8; // right red zone
        }
        // The free pointer lives in the object unless the object's contents
        // must survive while it is free (constructor, poison).
        let free_ptr = if debug || ctor.is_some() {
            end += 8;
            end - 8
        } else {
            obj_offset
        };
        let stride = NonZeroUsize::new(end.div_ceil(align) * align).ok_or(Error::Invalid)?;
        let (order, objects) = Self::calculate_order(stride).ok_or(Error::Invalid)?;
        Ok(Self {
            name,
            id,
            object_size: size,
            stride,
            stride_recip: (1u64 << 32).div_ceil(stride.get() as u64),
            obj_offset,
            free_ptr,
            order,
            objects,
            debug,
            poison: debug && ctor.is_none(),
            ctor,
            partial: FrameList::new(),
            full: FrameList::new(),
            empty: FrameList::new(),
            active_objs: 0,
            nr_slabs: 0,
            total_allocs: 0,
            total_frees: 0,
        })
    }

    /// The smallest slab order that wastes at most 1/8 of the slab, else the
    /// largest that holds one object (`calculate_order()`).
    fn calculate_order(stride: NonZeroUsize) -> Option<(u32, u32)> {
        let mut fallback = None;
        for order in 0..=SLAB_MAX_ORDER {
            let bytes = PAGE_SIZE << order;
            let objects = bytes / stride;
            if objects == 0 {
                continue;
            }
            let fit = (order, u32::try_from(objects).ok()?);
            if (bytes - objects * stride.get()) * 8 <= bytes {
                return Some(fit);
            }
            fallback = Some(fit);
        }
        fallback
    }

    /// The cache's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Size of the objects, as asked for.
    pub fn object_size(&self) -> usize {
        self.object_size
    }

    /// Objects in use.
    pub fn active_objs(&self) -> usize {
        self.active_objs
    }

    /// The cache's line of `/proc/slabinfo`.
    pub fn info(&self) -> SlabInfo {
        SlabInfo {
            name: self.name,
            active_objs: self.active_objs,
            num_objs: self.nr_slabs * self.objects as usize,
            objsize: self.object_size,
            objperslab: self.objects,
            pagesperslab: 1 << self.order,
            active_slabs: self.nr_slabs - self.empty.len(),
            num_slabs: self.nr_slabs,
            total_allocs: self.total_allocs,
            total_frees: self.total_frees,
        }
    }

    #[inline]
    fn obj_addr(&self, head: Pfn, idx: u32) -> PhysAddr {
        head.addr()
            .add(idx as usize * self.stride.get() + self.obj_offset)
    }

    #[inline]
    fn free_ptr_addr(&self, head: Pfn, idx: u32) -> PhysAddr {
        head.addr()
            .add(idx as usize * self.stride.get() + self.free_ptr)
    }

    fn object_words(&self) -> usize {
        self.object_size.div_ceil(8)
    }

    /// Allocates an object. Its contents are what the constructor made, or
    /// (without one) undefined: poison in debug mode, old data otherwise.
    pub fn alloc<M: FrameMemory>(
        &mut self,
        frames: &[Frame],
        mem: &M,
        pages: &mut impl PageAllocator,
    ) -> Result<PhysAddr> {
        let (head, was_partial) = match self.partial.front() {
            Some(head) => (head, true),
            None => match self.empty.pop_front(frames) {
                Some(head) => (head, false),
                None => (self.new_slab(frames, mem, pages)?, false),
            },
        };
        let hf = &frames[head.idx()];
        let idx = hf.private();
        let meta = mem.load(self.free_ptr_addr(head, idx));
        if self.debug {
            if let Err(e) = self.check_free_object(mem, head, idx, meta) {
                if !was_partial {
                    self.empty.push_front(frames, head);
                }
                return Err(e);
            }
            mem.store(self.free_ptr_addr(head, idx), TAG_ALLOC << 32);
        }
        hf.set_private(meta as u32);
        let inuse = hf.count() + 1;
        hf.set_count(inuse);
        if was_partial && inuse == self.objects {
            self.partial.remove(frames, head);
        }
        if inuse == self.objects {
            self.full.push_front(frames, head);
        } else if !was_partial {
            self.partial.push_front(frames, head);
        }
        self.active_objs += 1;
        self.total_allocs += 1;
        Ok(self.obj_addr(head, idx))
    }

    /// Allocates an object and fills it with zeroes (`kmem_cache_zalloc`).
    pub fn zalloc<M: FrameMemory>(
        &mut self,
        frames: &[Frame],
        mem: &M,
        pages: &mut impl PageAllocator,
    ) -> Result<PhysAddr> {
        let obj = self.alloc(frames, mem, pages)?;
        for w in 0..self.object_words() {
            mem.store(obj.word(w), 0);
        }
        Ok(obj)
    }

    /// Frees `obj`, an object of this cache in use.
    ///
    /// Errors, with nothing changed: [`Error::Foreign`] for an address that is
    /// not the start of one of this cache's objects, [`Error::DoubleFree`] for
    /// an object already free (always detected in debug mode; otherwise when it
    /// is the slab's most recently freed object, as SLUB does),
    /// [`Error::Corrupted`] (debug mode) if a red zone was overwritten (the
    /// red zone is repaired and the object stays allocated).
    pub fn free<M: FrameMemory>(
        &mut self,
        frames: &[Frame],
        mem: &M,
        pages: &mut impl PageAllocator,
        obj: PhysAddr,
    ) -> Result {
        let (head, idx) = self.locate(frames, obj)?;
        let hf = &frames[head.idx()];
        if self.debug {
            let meta = mem.load(self.free_ptr_addr(head, idx));
            if meta >> 32 != TAG_ALLOC {
                return Err(Error::DoubleFree);
            }
            self.check_red_zones(mem, head, idx)?;
            if self.poison {
                for w in 0..self.object_words() {
                    mem.store(obj.word(w), POISON_FREE);
                }
            }
            mem.store(
                self.free_ptr_addr(head, idx),
                TAG_FREE << 32 | u64::from(hf.private()),
            );
        } else {
            if hf.private() == idx {
                return Err(Error::DoubleFree);
            }
            mem.store(self.free_ptr_addr(head, idx), u64::from(hf.private()));
        }
        hf.set_private(idx);
        let inuse = hf.count() - 1;
        hf.set_count(inuse);
        let was_full = inuse + 1 == self.objects;
        self.active_objs -= 1;
        self.total_frees += 1;
        if inuse == 0 {
            if was_full {
                self.full.remove(frames, head);
            } else {
                self.partial.remove(frames, head);
            }
            self.empty.push_front(frames, head);
            if self.empty.len() > EMPTY_SLAB_RESERVE {
                self.discard_empty(frames, pages, 1)?;
            }
        } else if was_full {
            self.full.remove(frames, head);
            self.partial.push_front(frames, head);
        }
        Ok(())
    }

    /// Returns empty slabs to the page allocator, all but `keep` of them
    /// (`kmem_cache_shrink` with `keep == 0`). Returns frames freed.
    pub fn shrink(
        &mut self,
        frames: &[Frame],
        pages: &mut impl PageAllocator,
        keep: usize,
    ) -> Result<usize> {
        let n = self.empty.len().saturating_sub(keep);
        self.discard_empty(frames, pages, n)?;
        Ok(n << self.order)
    }

    fn discard_empty(
        &mut self,
        frames: &[Frame],
        pages: &mut impl PageAllocator,
        n: usize,
    ) -> Result {
        for _ in 0..n {
            let Some(head) = self.empty.pop_front(frames) else {
                break;
            };
            for t in 1..(1u32 << self.order) {
                frames[(head.0 + t) as usize].reset();
            }
            frames[head.idx()].set_state(FrameState::Allocated);
            self.nr_slabs -= 1;
            pages.free_pages(head, self.order)?;
        }
        Ok(())
    }

    /// Finds the slab head and object index of `obj`, checking that it is the
    /// start of an object of this cache.
    fn locate(&self, frames: &[Frame], obj: PhysAddr) -> Result<(Pfn, u32)> {
        let f = frames.get(obj.pfn().idx()).ok_or(Error::Foreign)?;
        let head = match f.state() {
            FrameState::Slab => obj.pfn(),
            FrameState::SlabTail => Pfn(f.private()),
            _ => return Err(Error::Foreign),
        };
        let hf = frames.get(head.idx()).ok_or(Error::Foreign)?;
        if hf.state() != FrameState::Slab || hf.owner() != self.id {
            return Err(Error::Foreign);
        }
        let off = obj
            .0
            .wrapping_sub(head.addr().0)
            .wrapping_sub(self.obj_offset as u64);
        // Exact for off < 2^15 (the largest slab) and stride <= 2^15; larger
        // offsets are past the slab and fail the checks below anyway.
        let idx = (off.min(1 << 15) * self.stride_recip) >> 32;
        if idx >= u64::from(self.objects) || idx * self.stride.get() as u64 != off {
            return Err(Error::Foreign);
        }
        Ok((head, idx as u32))
    }

    fn new_slab<M: FrameMemory>(
        &mut self,
        frames: &[Frame],
        mem: &M,
        pages: &mut impl PageAllocator,
    ) -> Result<Pfn> {
        let head = pages.alloc_pages(self.order)?;
        let hf = &frames[head.idx()];
        hf.set_head(FrameState::Slab, self.order);
        hf.set_owner(self.id);
        hf.set_count(0);
        hf.set_private(0);
        for t in 1..(1u32 << self.order) {
            let tf = &frames[(head.0 + t) as usize];
            tf.set_head(FrameState::SlabTail, 0);
            tf.set_owner(self.id);
            tf.set_private(head.0);
        }
        for idx in 0..self.objects {
            let next = if idx + 1 < self.objects { idx + 1 } else { NIL };
            let obj = self.obj_addr(head, idx);
            if self.debug {
                mem.store(head.addr().add(idx as usize * self.stride.get()), RED_ZONE);
                mem.store(obj.word(self.object_words()), RED_ZONE);
                if self.poison {
                    for w in 0..self.object_words() {
                        mem.store(obj.word(w), POISON_FREE);
                    }
                }
            }
            if let Some(ctor) = self.ctor {
                ctor(mem, obj, self.object_size);
            }
            let tag = if self.debug { TAG_FREE << 32 } else { 0 };
            mem.store(self.free_ptr_addr(head, idx), tag | u64::from(next));
        }
        self.nr_slabs += 1;
        Ok(head)
    }

    /// Debug checks of a free object about to be handed out.
    fn check_free_object<M: FrameMemory>(&self, mem: &M, head: Pfn, idx: u32, meta: u64) -> Result {
        if meta >> 32 != TAG_FREE {
            mem.store(
                self.free_ptr_addr(head, idx),
                TAG_FREE << 32 | (meta & 0xffff_ffff),
            );
            return Err(Error::Corrupted(
                "free pointer of a free object overwritten",
            ));
        }
        self.check_red_zones(mem, head, idx)?;
        if self.poison {
            let obj = self.obj_addr(head, idx);
            let mut dirty = false;
            for w in 0..self.object_words() {
                if mem.load(obj.word(w)) != POISON_FREE {
                    mem.store(obj.word(w), POISON_FREE);
                    dirty = true;
                }
            }
            if dirty {
                return Err(Error::Corrupted(
                    "free object written after free (poison overwritten)",
                ));
            }
        }
        Ok(())
    }

    fn check_red_zones<M: FrameMemory>(&self, mem: &M, head: Pfn, idx: u32) -> Result {
        let left = head.addr().add(idx as usize * self.stride.get());
        let right = self.obj_addr(head, idx).word(self.object_words());
        let mut bad = false;
        for rz in [left, right] {
            if mem.load(rz) != RED_ZONE {
                mem.store(rz, RED_ZONE);
                bad = true;
            }
        }
        if bad {
            return Err(Error::Corrupted(
                "red zone overwritten (out-of-bounds write)",
            ));
        }
        Ok(())
    }

    /// Checks the cache's invariants against the frame table.
    pub fn check(&self, frames: &[Frame]) -> core::result::Result<(), &'static str> {
        let mut active = 0usize;
        let mut slabs = 0usize;
        for (list, which) in [(&self.full, 0), (&self.partial, 1), (&self.empty, 2)] {
            list.check(frames)?;
            for head in list.iter(frames) {
                let hf = &frames[head.idx()];
                if hf.state() != FrameState::Slab || hf.owner() != self.id {
                    return Err("slab list holds a frame that is not one of this cache's slabs");
                }
                let inuse = hf.count();
                let ok = match which {
                    0 => inuse == self.objects,
                    1 => inuse > 0 && inuse < self.objects,
                    _ => inuse == 0,
                };
                if !ok {
                    return Err("slab on the wrong list for its number of objects in use");
                }
                active += inuse as usize;
                slabs += 1;
            }
        }
        if active != self.active_objs {
            return Err("active_objs differs from the slabs' counts");
        }
        if slabs != self.nr_slabs {
            return Err("nr_slabs differs from the slab lists");
        }
        if self.empty.len() > EMPTY_SLAB_RESERVE {
            return Err("more empty slabs kept than the reserve");
        }
        Ok(())
    }
}

/// One cache's statistics, printed as its line of `/proc/slabinfo` (version 2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabInfo {
    /// Cache name.
    pub name: &'static str,
    /// Objects in use.
    pub active_objs: usize,
    /// Objects in all slabs.
    pub num_objs: usize,
    /// Object size in bytes.
    pub objsize: usize,
    /// Objects per slab.
    pub objperslab: u32,
    /// Frames per slab.
    pub pagesperslab: u32,
    /// Slabs with at least one object in use.
    pub active_slabs: usize,
    /// All slabs.
    pub num_slabs: usize,
    /// Objects allocated since the cache was created.
    pub total_allocs: u64,
    /// Objects freed since the cache was created.
    pub total_frees: u64,
}

impl SlabInfo {
    /// The header lines of `/proc/slabinfo`.
    pub const HEADER: &'static str = "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n";
}

impl fmt::Display for SlabInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<17} {:6} {:6} {:6} {:4} {:4} : tunables {:4} {:4} {:4} : slabdata {:6} {:6} {:6}",
            self.name,
            self.active_objs,
            self.num_objs,
            self.objsize,
            self.objperslab,
            self.pagesperslab,
            0,
            0,
            0,
            self.active_slabs,
            self.num_slabs,
            0
        )
    }
}

/// Something that hands out fixed-size objects: what page tables and other
/// users of a cache need, without knowing about caches, locks or frames.
pub trait ObjectAllocator {
    /// Allocates a zeroed object.
    fn zalloc(&mut self) -> Result<PhysAddr>;
    /// Frees an object from [`ObjectAllocator::zalloc`].
    fn free(&mut self, obj: PhysAddr) -> Result;
}

/// A [`SlabCache`] with everything it needs to allocate: the plain
/// [`ObjectAllocator`] (the kernel glue has its own, which takes locks).
pub struct CacheAllocator<'a, M, P> {
    /// The cache.
    pub cache: &'a mut SlabCache,
    /// The frame table.
    pub frames: &'a [Frame],
    /// The frames' contents.
    pub mem: &'a M,
    /// Where slabs come from.
    pub pages: &'a mut P,
}

impl<M: FrameMemory, P: PageAllocator> ObjectAllocator for CacheAllocator<'_, M, P> {
    fn zalloc(&mut self) -> Result<PhysAddr> {
        self.cache.zalloc(self.frames, self.mem, self.pages)
    }

    fn free(&mut self, obj: PhysAddr) -> Result {
        self.cache.free(self.frames, self.mem, self.pages, obj)
    }
}
