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
//! mapping it another (`vm_private_data`, see `crate::device`). The last
//! one gives its frames and nodes back.
//!
//! This layer knows the arena below it and nothing above it: the device
//! (`crate::device`) creates spaces and maps them, the fault handler
//! (`crate::fault_handler`) works on their page tables.

use crate::{
    arena::{arena, Arena, PtNodes, SpaceWord},
    mm::{fault::Mm, slab::SlabCache},
    rmap::Window,
    slab_arc::{ArenaArc, ArenaArcBorrow, ArenaObject},
    uapi,
};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    fs::File,
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
pub const WINDOW_PAGES: usize = uapi::PAGEARENA_SPACE_MAX_PAGES as usize;
/// Windows in the page-offset range (`2^20 * 2^28` pages: offsets below 2^60
/// bytes). Ids past this wrap around, sharing a window with an older space:
/// zaps then also hit the other space, which costs it faults, not data.
const WINDOWS: u64 = 1 << 20;

/// A live space, as the registry lists it.
///
/// # Invariants
///
/// Points at a live [`Space`]: a space removes itself from the registry, under
/// the registry lock, before it is freed.
pub struct SpaceRef(*const Space);

// SAFETY: The registry reads the space's id and counters through it, and
// hands out new references to it (`lookup`, `all_spaces`: `try_get` under
// the registry lock), from any thread, which `Space: Sync` and
// `ArenaArc: Send` allow.
unsafe impl Send for SpaceRef {}

kernel::sync::global_lock! {
    // SAFETY: `init_registry` initialises it at load, before the device
    // that creates spaces is registered.
    unsafe(uninit) static SPACES: Mutex<KVec<SpaceRef>> = KVec::new();
}

/// Initialises the registry of spaces. Call once, at load, before any
/// space can be created.
pub fn init_registry() {
    // SAFETY: Called once, from the module's init, before the device (the
    // only creator of spaces) is registered, so before any other use.
    unsafe { SPACES.init() };
}

/// Calls `f` with every live space. The registry lock is a leaf: `f` must
/// not take a space's mutex.
pub fn for_each_space(mut f: impl FnMut(&Space)) {
    let list = SPACES.lock();
    for s in list.iter() {
        // SAFETY: By the invariant of `SpaceRef` the space is alive while it
        // is listed, and it cannot be unlisted while we hold the lock.
        f(unsafe { &*s.0 });
    }
}

/// A reference to the live space with mm id `id` (the `owner` of the frames
/// it takes), if there is one.
pub fn lookup(id: u32) -> Option<SpaceArc> {
    let list = SPACES.lock();
    list.iter().find_map(|s| {
        // SAFETY: By the invariant of `SpaceRef` the space's memory is
        // allocated while it is listed, and it cannot be unlisted (and so
        // freed) while we hold the lock; a space being dropped is still
        // listed, with a count of 0, which `try_get` refuses.
        let sp = unsafe { &*s.0 };
        if sp.id as u32 != id {
            return None;
        }
        // SAFETY: As above; spaces are `ArenaArc` values.
        unsafe { SpaceArc::try_get(s.0) }
    })
}

/// References to every live space (for a reverse-map walk of a shared
/// frame): `ENOMEM` if the list cannot be had.
pub fn all_spaces() -> Result<KVVec<SpaceArc>> {
    let list = SPACES.lock();
    let mut out = KVVec::with_capacity(list.len(), GFP_KERNEL)?;
    for s in list.iter() {
        // SAFETY: As in `lookup`.
        if let Some(sp) = unsafe { SpaceArc::try_get(s.0) } {
            // Within the capacity reserved above.
            let _ = out.push_within_capacity(sp);
        }
    }
    Ok(out)
}

/// Live spaces.
pub fn nr_spaces() -> u64 {
    SPACES.lock().len() as u64
}

/// What a space's mutex protects.
pub struct SpaceInner {
    /// The page table and its counters.
    pub mm: Mm,
    /// Fork-COW mode.
    pub fork_cow: bool,
    /// Snapshots made for the live `fork()` children: (child mm, child space).
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
    /// Set once a snapshot shared this space's frames with another space
    /// (by `CLONE` or a fork-COW `fork()`, on both sides): its writes may
    /// copy a frame rather than fill a new one. A hint for the fault path
    /// (whether to zero a frame before the mutex), never cleared.
    may_share: AtomicBool,
    /// The page table and mode.
    #[pin]
    pub inner: Mutex<SpaceInner>,
}

impl Space {
    /// A new, empty space in `window`, or in a window of its own in
    /// `file`'s mapping.
    pub fn create(window: Option<Window>, fork_cow: bool, file: Option<&File>) -> Result<SpaceArc> {
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
            may_share: AtomicBool::new(false),
            inner <- new_mutex!(
                SpaceInner { mm, fork_cow, forks: KVec::new(), parent: None },
                "pagearena_space"
            ),
        }))?;
        space.set(SpaceWord::Id, id);
        space.set(SpaceWord::Flags, u64::from(fork_cow));
        // INVARIANT: `Space::drop` unlists the space before it is freed; if
        // listing fails, dropping `space` frees it unlisted.
        SPACES
            .lock()
            .push(SpaceRef(core::ptr::from_ref::<Space>(&space)), GFP_KERNEL)?;
        Ok(space)
    }

    /// Gives this space (new and empty) the page table of `mm`, which is
    /// left empty.
    pub fn install_mm(&self, mm: &mut Mm) {
        let mut inner = self.inner.lock();
        mm.id = self.id as u32;
        core::mem::swap(&mut inner.mm, mm);
        if inner.mm.resident() > 0 {
            self.may_share.store(true, Ordering::Relaxed);
        }
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
        self.set(SpaceWord::Swapped, mm.swapped());
    }

    /// Zaps every user PTE of the space, if a VMA still maps it (under the
    /// mutex, which VMA counts change under): a space no VMA maps has no
    /// PTE, and the mapping of its window may be gone with its last file,
    /// as the reverse-map walk knows (`crate::vmscan`). Lock order: the
    /// mutex, then `i_mmap_rwsem`.
    pub fn zap_all_if_mapped(&self) {
        let _inner = self.inner.lock();
        if self.get(SpaceWord::Vmas) > 0 {
            self.window.zap_all();
        }
    }

    /// Counts a VMA mapping this space, or one fewer; returns the new count.
    pub fn add_vma(&self, d: i64) -> u64 {
        let _inner = self.inner.lock();
        self.add(SpaceWord::Vmas, d);
        self.get(SpaceWord::Vmas)
    }

    /// Forgets the fork snapshot `child`, whose last VMA went away.
    pub fn forget_fork(&self, child: &SpaceArc) {
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
        if copy.resident() > 0 {
            self.may_share.store(true, Ordering::Relaxed);
        }
        Ok(copy)
    }

    /// Punches a hole: pages `start..end` of the space are discarded (their
    /// frames and swap slots go back once no other space shares them) and
    /// read as zeroes on their next touch, in every process that maps them
    /// (`fallocate(FALLOC_FL_PUNCH_HOLE)`, `MADV_REMOVE`). Returns the pages
    /// that held something. Their PTEs are zapped first, under the mutex
    /// (frame-lifetime protocol, rule 4): a fault racing with the punch
    /// either made its PTE before the zap, which removes it, or decides
    /// after, and finds the page untouched.
    pub fn punch_hole(&self, start: u64, end: u64) -> Result<u64> {
        let a = arena();
        let mut inner = self.inner.lock();
        // A space no VMA maps has no PTE (rule 3).
        let mapped = self.get(SpaceWord::Vmas) > 0;
        let end = end.min(self.window.pages as u64);
        if start >= end {
            return Ok(0);
        }
        let r = inner
            .mm
            .discard(a, &mut PtNodes { arena: a }, start, end, || {
                if mapped {
                    self.window.zap(start, end - start)
                }
            });
        self.sync_counters(&inner.mm);
        Ok(r?)
    }

    /// The space that the process of `mm` sees where it maps this space:
    /// the fork-COW snapshot made for it (at any depth: a child's child's
    /// is on the child's list), or this space itself.
    pub fn for_mm(this: SpaceBorrow<'_>, mm: usize) -> Result<SpaceArc> {
        let mut todo = KVec::new();
        todo.push(SpaceArc::from(this), GFP_KERNEL)?;
        let mut at = 0;
        while let Some(s) = todo.get(at).cloned() {
            at += 1;
            // One space's mutex at a time (the lock order).
            let inner = s.inner.lock();
            for (m, child) in inner.forks.iter() {
                if *m == mm && child.get(SpaceWord::Vmas) > 0 {
                    return Ok(child.clone());
                }
            }
            for (_, child) in inner.forks.iter() {
                todo.push(child.clone(), GFP_KERNEL)?;
            }
            drop(inner);
        }
        Ok(this.into())
    }

    /// Whether a snapshot ever shared this space's frames (a hint: a write
    /// on a page without a PTE may be a copy, not a first touch).
    pub fn may_share(&self) -> bool {
        self.may_share.load(Ordering::Relaxed)
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
            swapped: self.get(SpaceWord::Swapped),
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
    pub fn fork_snapshot(this: SpaceBorrow<'_>, mm: usize) -> Result<SpaceArc> {
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
        // Remember the child for this fork's other VMAs of this space, until
        // it takes itself off the list when its last VMA goes
        // (`forget_fork`). So the list holds the live fork children, each
        // until its `dup_mmap` is long done: a child never gets two snapshots
        // taken at different moments, however many forks run at once.
        this.inner
            .lock()
            .forks
            .push((mm, child.clone()), GFP_KERNEL)?;
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
        {
            let mut list = SPACES.lock();
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

/// A fork child's VMA of this space went away: if it was the child's last,
/// the parent forgets the child.
pub fn vma_closed(space: &SpaceArc) {
    if space.add_vma(-1) == 0 {
        // Taken in its own statement, so our mutex is unlocked before the
        // parent's is taken.
        let parent = space.inner.lock().parent.take();
        if let Some(p) = parent {
            p.forget_fork(space);
        }
    }
}

impl ArenaObject for Space {
    fn cache(arena: &Arena) -> &SpinLock<SlabCache> {
        &arena.space_cache
    }
}
