// SPDX-License-Identifier: GPL-2.0

//! Address spaces (the module's `mm_struct`): each `open()` of
//! `/dev/pagearena` creates one; a clone ioctl or a `fork()` in fork-COW mode
//! makes a copy-on-write snapshot of one. A space is its page table, its
//! counters (what `spaces` shows), and its window of page offsets in the
//! device's mapping (the reverse map, see [`crate::rmap`]).
//!
//! A space is an object of the arena's `pa_space` slab cache, in arena
//! frames, reference counted ([`ArenaArc`], like `mm_struct` in `mm_cachep`
//! with `mmgrab`/`mmdrop`): the open file holds one reference, each VMA
//! mapping it another (`vm_private_data`, see [`crate::vm_ops`]). The last
//! one gives its frames and nodes back.

use crate::{
    arena::{arena, Arena, PtNodes, SpaceWord},
    mm::{fault::Mm, slab::SlabCache},
    rmap::Window,
    slab_arc::{ArenaArc, ArenaArcBorrow, ArenaObject},
    uapi,
    vm_ops::{self, VmFault, VmFaultReason, VmOperations, VmOpsTable},
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    mm::virt::{flags, VmaNew, VmaRef},
    new_mutex,
    prelude::*,
    sync::{Mutex, SpinLock},
};

/// A counted reference to a space.
pub type SpaceArc = ArenaArc<Space>;
/// A borrowed [`SpaceArc`].
pub type SpaceBorrow<'a> = ArenaArcBorrow<'a, Space>;

/// Source of space ids; ids are never reused while the module is loaded.
static NEXT_SPACE_ID: AtomicU64 = AtomicU64::new(1);

/// Pages of one space's window of page offsets.
const WINDOW_PAGES: usize = uapi::PAGEARENA_SPACE_MAX_PAGES as usize;
/// Windows in the page-offset range (`2^20 * 2^28` pages: offsets below 2^60
/// bytes). Ids past this wrap around, sharing a window with an older space:
/// zaps then also hit the other space, which costs it faults, not data.
const WINDOWS: u64 = 1 << 20;

/// Forks remembered per space in fork-COW mode (see `Space::fork_snapshot`).
const FORK_CACHE: usize = 4;

/// A live space, as the registry lists it.
///
/// # Invariants
///
/// Points at a live [`Space`]: a space removes itself from the registry, under
/// the registry lock, before it is freed.
pub struct SpaceRef(*const Space);

// SAFETY: The registry only reads the space's id and counters through it,
// from any thread, which `Space: Sync` allows.
unsafe impl Send for SpaceRef {}

/// Every live space (for debugfs `spaces` and the stats ioctl). A leaf lock:
/// nothing else is taken while it is held.
pub type SpaceRegistry = Mutex<KVec<SpaceRef>>;

/// Calls `f` with every live space.
pub fn for_each_space(mut f: impl FnMut(&Space)) {
    let list = arena().spaces.lock();
    for s in list.iter() {
        // SAFETY: By the invariant of `SpaceRef` the space is alive while it
        // is listed, and it cannot be unlisted while we hold the lock.
        f(unsafe { &*s.0 });
    }
}

/// What a space's mutex protects.
pub struct SpaceInner {
    /// The page table and its counters.
    pub mm: Mm,
    /// Fork-COW mode.
    pub fork_cow: bool,
    /// Snapshots made for recent `fork()`s: (child mm, child space).
    forks: KVec<(usize, SpaceArc)>,
    /// For a snapshot made by `fork()`: the space it was taken of, until the
    /// child's last VMA goes (then the parent forgets the child, and the
    /// frames they shared are the parent's alone again).
    parent: Option<SpaceArc>,
}

/// An address space.
///
/// # Invariants
///
/// Every frame entry of `inner.mm` holds one reference on its frame (the
/// core's invariant). `counters` mirror `inner` (written under the mutex,
/// read without it).
#[pin_data(PinnedDrop)]
pub struct Space {
    /// Unique id of this space.
    pub id: u64,
    /// The space's counters ([`SpaceWord`]).
    counters: [AtomicU64; SpaceWord::Count as usize],
    /// Where the space's pages are in the device's mapping (the rmap).
    pub window: Window,
    /// The page table and mode.
    #[pin]
    pub inner: Mutex<SpaceInner>,
}

impl Space {
    /// A new, empty space in `window`, or in a window of its own in
    /// `file`'s mapping.
    fn create(window: Option<Window>, fork_cow: bool, file: Option<&File>) -> Result<SpaceArc> {
        let a = arena();
        let id = NEXT_SPACE_ID.fetch_add(1, Ordering::Relaxed);
        let window = match (window, file) {
            (Some(w), _) => w,
            (None, Some(f)) => Window::new(f, (id % WINDOWS) as usize * WINDOW_PAGES, WINDOW_PAGES),
            (None, None) => return Err(EINVAL),
        };
        let mm = Mm::new(id as u32);
        let space = ArenaArc::pin_init(pin_init!(Space {
            id,
            counters: [const { AtomicU64::new(0) }; SpaceWord::Count as usize],
            window,
            inner <- new_mutex!(
                SpaceInner { mm, fork_cow, forks: KVec::new(), parent: None },
                "pagearena_space"
            ),
        }))?;
        space.set(SpaceWord::Id, id);
        space.set(SpaceWord::Flags, u64::from(fork_cow));
        // INVARIANT: `Space::drop` unlists the space before it is freed; if
        // listing fails, dropping `space` frees it unlisted.
        a.spaces
            .lock()
            .push(SpaceRef(core::ptr::from_ref::<Space>(&space)), GFP_KERNEL)?;
        Ok(space)
    }

    /// Gives this space (new and empty) the page table of `mm`, which is
    /// left empty.
    fn install_mm(&self, mm: &mut Mm) {
        let mut inner = self.inner.lock();
        mm.id = self.id as u32;
        core::mem::swap(&mut inner.mm, mm);
        self.sync_counters(&inner.mm);
        drop(inner);
        // The space was empty, so `mm` is now an empty table: nothing to
        // free, but release it all the same should that ever change.
        release_mm(mm);
    }

    /// Copies `mm`'s counters into the space's counters.
    pub fn sync_counters(&self, mm: &Mm) {
        self.set(SpaceWord::Resident, mm.resident());
        self.set(SpaceWord::Zero, mm.zero());
        self.set(SpaceWord::PtNodes, mm.pt.nr_nodes() as u64);
    }

    /// Counts a VMA mapping this space, or one fewer; returns the new count.
    fn add_vma(&self, d: i64) -> u64 {
        let _inner = self.inner.lock();
        self.add(SpaceWord::Vmas, d);
        self.get(SpaceWord::Vmas)
    }

    /// Forgets the fork snapshot `child`, whose last VMA went away.
    fn forget_fork(&self, child: &SpaceArc) {
        let gone = {
            let mut inner = self.inner.lock();
            let at = inner
                .forks
                .iter()
                .position(|(_, s)| ArenaArc::ptr_eq(s, child));
            at.and_then(|i| inner.forks.remove(i).ok())
        };
        // Dropped unlocked: the child's drop would take its own mutex.
        drop(gone);
    }

    /// One of the space's counters.
    pub fn get(&self, w: SpaceWord) -> u64 {
        self.counters[w as usize].load(Ordering::Relaxed)
    }

    /// Sets one of the space's counters (under the space's mutex, or before
    /// the space is shared).
    pub fn set(&self, w: SpaceWord, v: u64) {
        self.counters[w as usize].store(v, Ordering::Relaxed)
    }

    /// Adds `d` to one of the space's counters (under the space's mutex).
    pub fn add(&self, w: SpaceWord, d: i64) {
        self.set(w, self.get(w).wrapping_add_signed(d));
    }

    /// Takes a copy-on-write snapshot of this space (see
    /// [`Mm::snapshot`]): this space's writable user PTEs are zapped, so the
    /// next write on either side faults and copies.
    pub fn snapshot_mm(&self) -> Result<Mm> {
        let a = arena();
        let mut inner = self.inner.lock();
        let copy = inner
            .mm
            .snapshot(a, &mut PtNodes { arena: a }, 0, || self.window.zap_all())?;
        Ok(copy)
    }

    /// The space's statistics.
    pub fn stats(&self) -> uapi::PagearenaSpaceStats {
        let a = arena();
        let inner = self.inner.lock();
        let shared = inner.mm.shared(&a.mem, &a.frames);
        uapi::PagearenaSpaceStats {
            version: uapi::PAGEARENA_UAPI_VERSION,
            fork_mode: u32::from(inner.fork_cow),
            id: self.id,
            resident: self.get(SpaceWord::Resident),
            zero_mapped: self.get(SpaceWord::Zero),
            shared,
            pt_nodes: inner.mm.pt.nr_nodes() as u64,
            nr_vmas: self.get(SpaceWord::Vmas),
        }
    }

    /// Sets the fork mode.
    pub fn set_fork_cow(&self, cow: bool) {
        let mut inner = self.inner.lock();
        inner.fork_cow = cow;
        self.set(SpaceWord::Flags, u64::from(cow));
    }

    /// The space a `fork()` child's VMA of this fork-COW space maps, with
    /// the VMA counted: the snapshot made for that child (`mm`) when its
    /// first VMA of this space was copied, or a new one.
    fn fork_snapshot(this: SpaceBorrow<'_>, mm: usize) -> Result<SpaceArc> {
        let found = {
            let inner = this.inner.lock();
            inner
                .forks
                .iter()
                .find(|(m, s)| *m == mm && s.get(SpaceWord::Vmas) > 0)
                .map(|(_, s)| s.clone())
        };
        if let Some(s) = found {
            // The child is being built by this thread (`dup_mmap`): its VMA
            // count cannot fall to 0 meanwhile.
            s.add_vma(1);
            return Ok(s);
        }
        let mut snap = this.snapshot_mm()?;
        let child = match Space::create(Some(this.window.inherit()), true, None) {
            Ok(c) => c,
            Err(e) => {
                release_mm(&mut snap);
                return Err(e);
            }
        };
        child.install_mm(&mut snap);
        child.inner.lock().parent = Some(this.into());
        // Counted before it is listed, so a concurrent fork's pruning (of
        // children without VMAs) cannot take it.
        child.add_vma(1);
        arena().count(crate::arena::Event::ForkSnapshot);
        // Remember the child for this fork's other VMAs of this space. A
        // child takes itself off the list when its last VMA goes
        // (`forget_fork`); the list is bounded by forgetting the oldest.
        // That one is dropped after unlocking: should it be the last
        // reference, its drop takes its own mutex, of the same class as ours.
        let old = {
            let mut inner = this.inner.lock();
            inner.forks.push((mm, child.clone()), GFP_KERNEL)?;
            if inner.forks.len() > FORK_CACHE {
                inner.forks.remove(0).ok()
            } else {
                None
            }
        };
        drop(old);
        Ok(child)
    }
}

/// Empties `mm`: drops its frame references and frees its nodes.
fn release_mm(mm: &mut Mm) {
    let a = arena();
    let r = mm.destroy(a, &mut PtNodes { arena: a });
    kernel::warn_on!(r.is_err());
}

#[pinned_drop]
impl PinnedDrop for Space {
    fn drop(self: Pin<&mut Self>) {
        let a = arena();
        {
            let mut list = a.spaces.lock();
            let me = core::ptr::from_ref::<Space>(&self);
            if let Some(i) = list.iter().position(|s| s.0 == me) {
                let _ = list.remove(i);
            }
        }
        let (forks, parent) = {
            let mut inner = self.inner.lock();
            release_mm(&mut inner.mm);
            (core::mem::take(&mut inner.forks), inner.parent.take())
        };
        // Dropped unlocked: their drops take their own mutexes.
        drop(forks);
        drop(parent);
    }
}

/// The file operations of `/dev/pagearena`.
#[vtable]
impl MiscDevice for Space {
    type Ptr = SpaceArc;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<SpaceArc> {
        Space::create(None, false, Some(file))
    }

    fn mmap(space: SpaceBorrow<'_>, _file: &File, vma: &VmaNew) -> Result {
        if vma.flags() & flags::SHARED == 0 {
            return Err(EINVAL);
        }
        let pgoff = vm_ops::pgoff(vma);
        let pages = (vma.end() - vma.start()) >> kernel::page::PAGE_SHIFT;
        match pgoff.checked_add(pages) {
            Some(end) if end <= WINDOW_PAGES => {}
            _ => return Err(EINVAL),
        }
        vm_ops::set_pgoff(vma, space.window.base + pgoff);
        let data: SpaceArc = space.into();
        data.add_vma(1);
        let extra = flags::DONTEXPAND | flags::DONTDUMP | flags::WIPEONFORK;
        vm_ops::install(vma, &SPACE_VM_OPS, data, extra).map_err(|d| {
            d.add_vma(-1);
            EINVAL
        })
    }

    fn ioctl(space: SpaceBorrow<'_>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        crate::ioctl::dispatch(space, file, cmd, arg)
    }
}

/// Opens a new file of the device (a new, empty space) next to `file`, with
/// its access mode, and makes its space a snapshot of `space`; returns the
/// new fd.
pub fn clone_space(space: &Space, file: &File) -> Result<isize> {
    use kernel::fs::file::FileDescriptorReservation;
    let fd = FileDescriptorReservation::get_unused_fd_flags(kernel::bindings::O_CLOEXEC)?;
    let new = crate::file::reopen(file)?;
    let child = crate::file::space_of(&new);
    let mut mm = space.snapshot_mm()?;
    child.install_mm(&mut mm);
    arena().count(crate::arena::Event::Clone);
    let nr = fd.reserved_fd();
    fd.fd_install(new);
    Ok(nr as isize)
}

/// The VMA callbacks of every mapping of a space.
pub struct SpaceVmOps;

/// The table installed on every VMA of `/dev/pagearena`.
pub static SPACE_VM_OPS: VmOpsTable<SpaceVmOps> = VmOpsTable::build();

impl VmOperations for SpaceVmOps {
    type Data = SpaceArc;
    const FAULT_UNDER_VMA_LOCK: bool = true;

    fn open(vma: &VmaRef, space: SpaceBorrow<'_>) -> Option<SpaceArc> {
        let mm = vma.mm().as_raw() as usize;
        let forked = kernel::current!()
            .mm()
            .is_some_and(|cur| cur.as_raw() as usize != mm);
        let cow = forked && space.inner.lock().fork_cow;
        let target = if cow {
            match Space::fork_snapshot(space, mm) {
                Ok(s) => s,
                Err(e) => {
                    pr_warn!(
                        "fork: no memory for a snapshot of space {} ({:?}): child gets SIGBUS\n",
                        space.id,
                        e
                    );
                    return None;
                }
            }
        } else {
            let s: SpaceArc = space.into();
            s.add_vma(1);
            s
        };
        Some(target)
    }

    fn close(_vma: &VmaRef, space: SpaceArc) {
        if space.add_vma(-1) == 0 {
            // A fork child's last VMA: the parent forgets it. (Taken in its
            // own statement, so our mutex is unlocked before the parent's is
            // taken.)
            let parent = space.inner.lock().parent.take();
            if let Some(p) = parent {
                p.forget_fork(&space);
            }
        }
    }

    fn fault(space: SpaceBorrow<'_>, vmf: &VmFault) -> VmFaultReason {
        crate::memory::handle_fault(&space, vmf, false)
    }

    fn pfn_mkwrite(space: SpaceBorrow<'_>, vmf: &VmFault) -> VmFaultReason {
        crate::memory::handle_fault(&space, vmf, true)
    }
}

impl ArenaObject for Space {
    fn cache(arena: &Arena) -> &SpinLock<SlabCache> {
        &arena.space_cache
    }
}
