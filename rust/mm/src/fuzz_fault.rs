// SPDX-License-Identifier: GPL-2.0

//! A driver of random operation sequences through several spaces' fault
//! decisions ([`Mm`]) sharing one small pool, checked after every step
//! against a model. `cargo fuzz` (target `fault_ops`) and `cargo test`
//! (`tests/fault.rs`) feed it. Any disagreement panics.
//!
//! The model has what the kernel glue makes of the core's answers: **user
//! PTEs**, per process, space and page, each mapping the zero frame or a
//! frame, read-only or writable. Reads and writes go through them as a CPU
//! would (a writable PTE takes a store without any fault; a read-only one
//! faults into `pfn_mkwrite`), faults install them as `vmf_insert_pfn` does
//! (never over an existing PTE), and the core's `zap` callback removes them
//! from every process whose space shares the window (a fork-COW child
//! inherits its parent's). So the model checks, not just counts:
//!
//! - **contents**: each space reads back what was written to it, through
//!   whatever PTE maps the page (words 0 and 511);
//! - **no PTE to a dead frame**: when a frame goes back to the buddy, no user
//!   PTE maps it; after every step every PTE maps the frame its space's entry
//!   references (writable only if that frame has a map count of 1);
//! - **zap before drop**: when a fault or a destroy drops a reference on a
//!   frame, the user PTEs of that page (of that space) are already gone
//!   ([`ModelPool`] checks at every [`FramePool::put_frame`]);
//! - **both counts**: every data frame's map count equals the entries that
//!   map it, and its reference count that plus the pins the model holds
//!   (reclaim isolating a frame);
//! - demand-zero frames are zeroed, COW copies whole, exhaustion changes
//!   nothing, and everything comes back at the end;
//! - **swap** ([`super::vmscan`]): frames taken out of every space that
//!   maps them (clones and fork children too) in two steps around a write
//!   to a model swap device (other operations run in between, as faults do
//!   while the write is in flight, and the device gets the frame as it was
//!   when reclaim started), brought back by faults
//!   ([`Mm::swap_in`]) byte for byte, clean swap-cache pages evicted again
//!   without a write, zero-filled pages dropped without a slot, and every
//!   slot's count equal to the entries, swap-cache frames and writes in
//!   flight that hold it.

use super::error::Error;
use super::fault::{
    alloc_zeroed_frame, get_frame, put_frame, release_frame, FaultKind, FramePool, Mm, ReadMap,
};
use super::frame::{pg, Frame, FrameState};
use super::host::{nr_page_table_frames, HostMemory, HostNodes, HostPool};
use super::memory::{FrameMemory, Pfn, WORDS_PER_PAGE};
use super::pagetable::{Pte, PteKind, MAX_PAGES};
use super::swap::SwapSlots;
use super::vmscan::{shrink_begin, shrink_end, Plan, Rmap, ShrinkEnd, Visit};
use core::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::vec::Vec;

/// Spaces (slots) in play.
pub const SPACES: usize = 4;
/// Processes that may map each space.
pub const PROCS: u8 = 2;
/// Page indexes used: neighbours in one leaf, and pages in other subtrees.
pub const PAGES: [u64; 8] = [0, 1, 2, 7, 511, 512, 1 << 18, (1 << 27) + 3];
/// The far word written and checked in each page.
pub const LAST_WORD: usize = 511;
/// Swap slots of the pool.
pub const SLOTS: usize = 24;

/// One operation on the spaces.
#[derive(Debug, Clone)]
pub enum Op {
    /// Process `proc` reads page `PAGES[page]` of space `space`.
    Read {
        /// The process.
        proc: u8,
        /// The space.
        space: usize,
        /// Index into [`PAGES`].
        page: usize,
    },
    /// Process `proc` writes `value` to a page.
    Write {
        /// The process.
        proc: u8,
        /// The space.
        space: usize,
        /// Index into [`PAGES`].
        page: usize,
        /// The value.
        value: u64,
        /// Whether a zeroed frame is taken before a fault on a page without
        /// a PTE (as the glue does).
        prealloc: bool,
    },
    /// Snapshot space `from` into the empty slot `to`: by `fork()` (the
    /// child keeps the parent's window) or by the clone ioctl (a new one).
    Snapshot {
        /// The source.
        from: usize,
        /// The empty slot.
        to: usize,
        /// A fork-COW snapshot.
        fork: bool,
    },
    /// Destroy space `.0` (its VMAs gone first), or create one in an empty slot.
    Destroy(usize),
    /// Pin the frame of page `PAGES[.1]` of space `.0`, as reclaim isolates
    /// a frame: a reference, no mapping.
    Pin(usize, usize),
    /// Drop pin number `.0` (modulo the pins held).
    Unpin(usize),
    /// Start taking page `PAGES[.1]` of space `.0` out of memory.
    Pageout(usize, usize),
    /// Finish pageout number `.0` (modulo those in flight); `.1`: the write
    /// to swap succeeded.
    PageoutEnd(usize, bool),
    /// Punch a hole in space `space`: pages `PAGES[page]..PAGES[page] + len`
    /// are discarded and read zeroes after.
    Discard {
        /// The space.
        space: usize,
        /// Index into [`PAGES`] of the first page.
        page: usize,
        /// Pages.
        len: u64,
    },
}

/// Decodes operations from bytes (what `cargo fuzz` gives).
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut it = data.iter().copied();
    while let (Some(b), Some(x)) = (it.next(), it.next()) {
        let space = usize::from(x) % SPACES;
        let page = usize::from(x >> 2) % PAGES.len();
        let proc = (b >> 6) % PROCS;
        ops.push(match b % 16 {
            0..=4 => Op::Read { proc, space, page },
            5..=10 => Op::Write {
                proc,
                space,
                page,
                value: u64::from(b) << 8 | u64::from(x),
                prealloc: b & 0x10 != 0,
            },
            11 => Op::Snapshot {
                from: space,
                to: usize::from(x >> 5) % SPACES,
                fork: b & 0x20 != 0,
            },
            12 => Op::Destroy(space),
            13 => Op::Pin(space, page),
            14 => Op::Unpin(usize::from(x)),
            15 if b & 0x30 == 0x30 => Op::Discard {
                space,
                page,
                len: u64::from(b >> 6) * 3 + 1,
            },
            15 if b & 0x10 == 0 => Op::Pageout(space, page),
            _ => Op::PageoutEnd(usize::from(x), b & 0x20 == 0),
        });
    }
    ops
}

/// What a user PTE maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UserMap {
    Zero,
    Frame(Pfn),
}

/// A user PTE.
#[derive(Clone, Copy, Debug)]
struct UserPte {
    map: UserMap,
    writable: bool,
}

/// User PTEs by (process, space id, page).
type Ptes = BTreeMap<(u8, u32, u64), UserPte>;

/// The pool with the user PTEs the kernel glue would have made: it checks,
/// at every dropped reference and every freed frame, that no PTE that should
/// be gone is still there.
pub struct ModelPool {
    pool: HostPool,
    ptes: RefCell<Ptes>,
    /// Space id → window id (the rmap: a zap reaches every space of a window).
    windows: RefCell<HashMap<u32, u32>>,
    /// The space (and page, for a fault; `None`: a destroy) whose references
    /// are being dropped.
    actor: Cell<Option<(u32, Option<u64>)>>,
    /// The swap device: what was written to each slot.
    device: RefCell<HashMap<u32, Vec<u64>>>,
}

impl ModelPool {
    fn new(frames: usize) -> Self {
        Self {
            pool: HostPool::with_swap(frames, SLOTS).unwrap(),
            ptes: RefCell::new(BTreeMap::new()),
            windows: RefCell::new(HashMap::new()),
            actor: Cell::new(None),
            device: RefCell::new(HashMap::new()),
        }
    }

    /// What frame `pfn` holds.
    fn contents(&self, pfn: Pfn) -> Vec<u64> {
        (0..WORDS_PER_PAGE)
            .map(|w| self.pool.mem.load(pfn.addr().word(w)))
            .collect()
    }

    /// Reads `slot` of the device into frame `pfn`.
    fn read_slot(&self, pfn: Pfn, slot: u32) {
        let device = self.device.borrow();
        let page = device
            .get(&slot)
            .expect("a slot read before it was written");
        for (w, v) in page.iter().enumerate() {
            self.pool.mem.store(pfn.addr().word(w), *v);
        }
    }

    /// Zaps pages `start..end` of `space`'s window in every process.
    fn zap(&self, space: u32, start: u64, end: u64) {
        let windows = self.windows.borrow();
        let w = windows[&space];
        self.ptes
            .borrow_mut()
            .retain(|&(_, s, i), _| windows.get(&s) != Some(&w) || i < start || i >= end);
    }

    /// What `pte` shows at words 0 and [`LAST_WORD`].
    fn load(&self, pte: UserPte) -> (u64, u64) {
        match pte.map {
            UserMap::Zero => (0, 0),
            UserMap::Frame(p) => (
                self.pool.mem.load(p.addr().word(0)),
                self.pool.mem.load(p.addr().word(LAST_WORD)),
            ),
        }
    }
}

impl SwapSlots for ModelPool {
    fn alloc_slot(&self) -> Result<u32, Error> {
        self.pool.alloc_slot()
    }

    fn dup_slot(&self, slot: u32) {
        self.pool.dup_slot(slot)
    }

    fn put_slot(&self, slot: u32) {
        self.pool.put_slot(slot)
    }
}

impl FramePool for ModelPool {
    type Memory = HostMemory;

    fn memory(&self) -> &HostMemory {
        &self.pool.mem
    }

    fn frames(&self) -> &[Frame] {
        &self.pool.frames
    }

    fn alloc_page(&self) -> Result<Pfn, Error> {
        self.pool.alloc_page()
    }

    fn swapcache_changed(&self, delta: i64) {
        self.pool.swapcache_changed(delta)
    }

    fn free_frame(&self, pfn: Pfn) {
        for (k, pte) in self.ptes.borrow().iter() {
            assert_ne!(
                pte.map,
                UserMap::Frame(pfn),
                "frame {pfn:?} freed while user PTE {k:?} maps it"
            );
        }
        self.pool.free_frame(pfn);
    }

    fn put_frame(&self, pfn: Pfn) {
        if let Some((space, page)) = self.actor.get() {
            for (&(proc, s, i), pte) in self.ptes.borrow().iter() {
                let dropping = s == space && page.is_none_or(|p| p == i);
                assert!(
                    !(dropping && pte.map == UserMap::Frame(pfn)),
                    "space {space} page {i}: a reference on {pfn:?} was dropped \
                     while process {proc} still maps it (put before zap)"
                );
            }
        }
        if let Some(f) = self.frames().get(pfn.idx()) {
            if f.put() {
                release_frame(self, pfn);
            }
        }
    }
}

/// A reclaim whose write is in flight.
#[derive(Clone, Debug)]
struct InFlight {
    pfn: Pfn,
    slot: u32,
    /// What the write puts in the slot: the frame as it was when the
    /// reclaim started.
    data: Vec<u64>,
}

/// The model's reverse map: every live space, in slot order.
struct ModelRmap<'a> {
    pool: &'a ModelPool,
    spaces: &'a mut Vec<Option<(Mm, BTreeMap<u64, u64>)>>,
}

impl<'a> Rmap for ModelRmap<'a> {
    type Nodes = HostNodes<'a>;

    fn walk(&mut self, _pfn: Pfn, idx: u64, visit: &mut Visit<'_, HostNodes<'a>>) {
        let pool = self.pool;
        for (mm, _) in self.spaces.iter_mut().flatten() {
            let id = mm.id;
            pool.actor.set(Some((id, Some(idx))));
            visit(mm, &mut pool.pool.node_allocator(), &|| {
                pool.zap(id, idx, idx + 1)
            });
            pool.actor.set(None);
        }
    }
}

struct World {
    pool: ModelPool,
    spaces: Vec<Option<(Mm, BTreeMap<u64, u64>)>>,
    pins: Vec<Pfn>,
    writes: Vec<InFlight>,
    next_id: u32,
}

impl World {
    fn new(frames: usize) -> Self {
        let pool = ModelPool::new(frames);
        let mut spaces = Vec::new();
        // Two spaces to start; snapshots fill the empty slots.
        for i in 0..SPACES {
            spaces.push((i < 2).then(|| {
                pool.windows.borrow_mut().insert(i as u32, i as u32);
                (Mm::new(i as u32), BTreeMap::new())
            }));
        }
        Self {
            pool,
            spaces,
            pins: Vec::new(),
            writes: Vec::new(),
            next_id: SPACES as u32,
        }
    }

    /// Puts `mm` (with `model`) in `slot` under a new id, in `window` or
    /// a window of its own.
    fn new_space(
        &mut self,
        slot: usize,
        window: Option<u32>,
        mut mm: Mm,
        model: BTreeMap<u64, u64>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.pool
            .windows
            .borrow_mut()
            .insert(id, window.unwrap_or(id));
        mm.id = id;
        self.spaces[slot] = Some((mm, model));
    }

    fn read(&mut self, proc: u8, s: usize, idx: u64) {
        let pool = &self.pool;
        let Some((mm, model)) = self.spaces[s].as_mut() else {
            return;
        };
        let key = (proc, mm.id, idx);
        let existing = pool.ptes.borrow().get(&key).copied();
        let pte = match existing {
            Some(p) => p,
            None => {
                if !swap_in(pool, mm, idx) {
                    return;
                }
                let nodes = &mut pool.pool.node_allocator();
                let (map, kind) = match mm.read_fault(&pool.pool.mem, nodes, idx) {
                    Ok(r) => r,
                    Err(Error::NoMemory) => return,
                    Err(e) => panic!("read: {e}"),
                };
                let pte = match map {
                    ReadMap::Zero => {
                        assert_eq!(kind, FaultKind::Zero);
                        UserPte {
                            map: UserMap::Zero,
                            writable: false,
                        }
                    }
                    ReadMap::Frame { pfn, writable } => {
                        assert_eq!(kind, FaultKind::Minor);
                        UserPte {
                            map: UserMap::Frame(pfn),
                            writable,
                        }
                    }
                    ReadMap::Swap(_) => panic!("nothing swaps here"),
                };
                pool.ptes.borrow_mut().insert(key, pte);
                pte
            }
        };
        let want = model.get(&idx).copied().unwrap_or(0);
        let (v, last) = pool.load(pte);
        assert_eq!(v, want, "space {s} page {idx} through {pte:?}");
        assert_eq!(last, if want == 0 { 0 } else { !want });
    }

    fn write(&mut self, proc: u8, s: usize, idx: u64, value: u64, prealloc: bool) {
        let pool = &self.pool;
        let Some((mm, model)) = self.spaces[s].as_mut() else {
            return;
        };
        let key = (proc, mm.id, idx);
        let existing = pool.ptes.borrow().get(&key).copied();
        let target = match existing {
            // A store through a writable PTE: no fault at all.
            Some(UserPte {
                map: UserMap::Frame(pfn),
                writable: true,
            }) => pfn,
            _ => {
                let mapped = existing.is_some();
                if !mapped && !swap_in(pool, mm, idx) {
                    return;
                }
                let before = mm.pt.lookup(&pool.pool.mem, idx);
                let mut pre = if prealloc && !mapped {
                    alloc_zeroed_frame(pool).ok()
                } else {
                    None
                };
                let zaps = Cell::new(0);
                let id = mm.id;
                pool.actor.set(Some((id, Some(idx))));
                let r = mm.write_fault(
                    pool,
                    &mut pool.pool.node_allocator(),
                    idx,
                    &mut pre,
                    mapped,
                    || {
                        zaps.set(zaps.get() + 1);
                        pool.zap(id, idx, idx + 1);
                    },
                );
                pool.actor.set(None);
                if let Some(p) = pre {
                    put_frame(pool, p);
                }
                let wm = match r {
                    Ok(wm) => wm,
                    Err(Error::NoMemory) => {
                        assert_eq!(
                            mm.pt.lookup(&pool.pool.mem, idx),
                            before,
                            "failed write changed the entry"
                        );
                        assert_eq!(zaps.get(), 0);
                        return;
                    }
                    Err(e) => panic!("write: {e}"),
                };
                let old_words = match before.kind() {
                    PteKind::Frame(p) => Some((
                        pool.pool.mem.load(p.addr().word(0)),
                        pool.pool.mem.load(p.addr().word(LAST_WORD)),
                    )),
                    _ => None,
                };
                let now = (
                    pool.pool.mem.load(wm.pfn.addr().word(0)),
                    pool.pool.mem.load(wm.pfn.addr().word(LAST_WORD)),
                );
                match wm.kind {
                    FaultKind::DemandZero => {
                        assert_eq!(now, (0, 0), "demand-zero frame not zeroed");
                        assert!(!wm.in_place);
                    }
                    FaultKind::Cow => {
                        assert_eq!(Some(now), old_words, "COW copy differs");
                        assert_eq!(zaps.get(), 1, "COW without a zap");
                        assert!(!wm.in_place);
                    }
                    FaultKind::CowReuse | FaultKind::Minor => {
                        assert_eq!(before.kind(), PteKind::Frame(wm.pfn));
                        assert!(wm.in_place);
                        assert_eq!(zaps.get(), 0);
                    }
                    FaultKind::Zero | FaultKind::SwapIn => {
                        panic!("a write answered as {:?}", wm.kind)
                    }
                }
                let mut ptes = pool.ptes.borrow_mut();
                if wm.in_place && mapped {
                    // The glue replaces the faulting PTE by a writable one
                    // to the same frame, under the space's lock.
                    let p = ptes.remove(&key).expect("in-place answer, PTE gone");
                    assert_eq!(p.map, UserMap::Frame(wm.pfn), "in place, other frame");
                }
                {
                    // `vmf_insert_pfn_prot` never replaces a PTE: the core
                    // must have zapped the old one.
                    assert!(
                        !ptes.contains_key(&key),
                        "space {s} page {idx}: new frame {:?} but the old PTE {:?} was not zapped",
                        wm.pfn,
                        ptes.get(&key)
                    );
                    ptes.insert(
                        key,
                        UserPte {
                            map: UserMap::Frame(wm.pfn),
                            writable: true,
                        },
                    );
                }
                wm.pfn
            }
        };
        // The store lands wherever the PTE points.
        let mem = &pool.pool.mem;
        mem.store(target.addr().word(0), value);
        mem.store(
            target.addr().word(LAST_WORD),
            if value == 0 { 0 } else { !value },
        );
        model.insert(idx, value);
    }

    fn snapshot(&mut self, from: usize, to: usize, fork: bool) {
        if from == to || self.spaces[to].is_some() {
            return;
        }
        let pool = &self.pool;
        let Some((mm, model)) = self.spaces[from].as_mut() else {
            return;
        };
        let (id, model) = (mm.id, model.clone());
        let zaps = Cell::new(0);
        let r = mm.snapshot(pool, &mut pool.pool.node_allocator(), 0, || {
            zaps.set(zaps.get() + 1);
            pool.zap(id, 0, MAX_PAGES);
        });
        match r {
            Ok(copy) => {
                assert_eq!(zaps.get(), 1, "a snapshot zaps the source's PTEs");
                let window = fork.then(|| pool.windows.borrow()[&id]);
                self.new_space(to, window, copy, model);
            }
            Err(Error::NoMemory) => assert_eq!(zaps.get(), 0),
            Err(e) => panic!("snapshot: {e}"),
        }
    }

    fn pageout(&mut self, s: usize, idx: u64) {
        let pool = &self.pool;
        let Some((mm, _)) = self.spaces[s].as_ref() else {
            return;
        };
        let PteKind::Frame(pfn) = mm.pt.lookup(&pool.pool.mem, idx).kind() else {
            return;
        };
        // Isolated: the reclaimer's pin, until the end.
        get_frame(pool, pfn);
        let before = pool.contents(pfn);
        let r = shrink_begin(
            pool,
            &mut ModelRmap {
                pool,
                spaces: &mut self.spaces,
            },
            pfn,
            true,
        );
        // Whatever happened, no entry maps the frame writable any more.
        for (mm, _) in self.spaces.iter().flatten() {
            let pte = mm.pt.lookup(&pool.pool.mem, idx);
            if pte.kind() == PteKind::Frame(pfn) {
                assert!(!pte.has(Pte::WRITE), "a frame under reclaim is writable");
            }
        }
        match r {
            Ok(Plan::Write(slot)) => self.writes.push(InFlight {
                pfn,
                slot,
                data: before,
            }),
            Ok(plan) => {
                if plan == Plan::Zero {
                    assert!(
                        before.iter().all(|w| *w == 0),
                        "a written frame taken as zero"
                    );
                }
                self.finish(pfn, plan, true);
            }
            Err(Error::Invalid | Error::Busy | Error::NoMemory) => put_frame(pool, pfn),
            Err(e) => panic!("shrink_begin: {e}"),
        }
    }

    /// Ends the reclaim of `pfn` with `plan`, then drops the pin.
    fn finish(&mut self, pfn: Pfn, plan: Plan, written: bool) {
        let pool = &self.pool;
        let idx = pool.pool.frames[pfn.idx()].index();
        let r = shrink_end(
            pool,
            &mut ModelRmap {
                pool,
                spaces: &mut self.spaces,
            },
            pfn,
            plan,
            written,
        );
        match r {
            ShrinkEnd::Done { left, .. } => {
                assert_eq!(left, pool.pool.frames[pfn.idx()].mapcount());
                let mut maps = 0;
                for (mm, model) in self.spaces.iter_mut().flatten() {
                    match mm.pt.lookup(&pool.pool.mem, idx).kind() {
                        PteKind::Frame(p) if p == pfn => maps += 1,
                        // A page that went back to untouched held zeros.
                        PteKind::None if model.contains_key(&idx) => {
                            assert_eq!(model.remove(&idx), Some(0), "a written page dropped");
                        }
                        _ => {}
                    }
                }
                assert_eq!(maps, left, "entries left mapping the frame");
            }
            ShrinkEnd::WriteFailed => assert!(!written),
        }
        // The reclaimer's pin goes last.
        put_frame(pool, pfn);
    }

    fn pageout_end(&mut self, k: usize, written: bool) {
        if self.writes.is_empty() {
            return;
        }
        let w = self.writes.swap_remove(k % self.writes.len());
        if written {
            // What the device got: the frame as it was when the write
            // started, the earliest it may read it. A change made since
            // that stayed would be lost, and show at the next read.
            self.pool.device.borrow_mut().insert(w.slot, w.data.clone());
        }
        self.finish(w.pfn, Plan::Write(w.slot), written);
    }

    fn discard(&mut self, s: usize, start: u64, len: u64) {
        let pool = &self.pool;
        let Some((mm, model)) = self.spaces[s].as_mut() else {
            return;
        };
        let id = mm.id;
        let end = start.saturating_add(len);
        pool.actor.set(Some((id, None)));
        let before = mm.resident() + mm.zero() + mm.swapped();
        let n = mm
            .discard(pool, &mut pool.pool.node_allocator(), start, end, || {
                pool.zap(id, start, end)
            })
            .unwrap();
        pool.actor.set(None);
        assert_eq!(
            before - n,
            mm.resident() + mm.zero() + mm.swapped(),
            "discard returns the entries it dropped"
        );
        let mut gone = 0;
        mm.pt.for_each(&pool.pool.mem, start, end, |_, _| gone += 1);
        assert_eq!(gone, 0, "an entry survived the hole punched over it");
        // The model: those pages read zeroes again.
        model.retain(|&i, _| i < start || i >= end);
    }

    fn destroy(&mut self, s: usize) {
        match self.spaces[s].take() {
            Some((mut mm, _)) => {
                let pool = &self.pool;
                // Its VMAs are gone: the kernel unmapped their PTEs.
                pool.ptes.borrow_mut().retain(|&(_, sp, _), _| sp != mm.id);
                pool.actor.set(Some((mm.id, None)));
                mm.destroy(pool, &mut pool.pool.node_allocator()).unwrap();
                pool.actor.set(None);
                pool.windows.borrow_mut().remove(&mm.id);
            }
            None => self.new_space(s, None, Mm::new(0), BTreeMap::new()),
        }
    }

    fn check(&self) {
        let pool = &self.pool;
        let (mem, frames) = (&pool.pool.mem, &pool.pool.frames);
        let in_cache = frames.iter().filter(|f| f.swapcache().is_some()).count();
        assert_eq!(
            pool.pool.nr_swapcache.get(),
            in_cache as i64,
            "the swap-cache counter the core keeps"
        );
        let mut maps: HashMap<u32, u32> = HashMap::new();
        let mut entries: HashMap<u32, BTreeMap<u64, Pte>> = HashMap::new();
        for (mm, model) in self.spaces.iter().flatten() {
            mm.check(mem, frames).unwrap();
            let mut frames_seen = 0;
            let e = entries.entry(mm.id).or_default();
            mm.pt.for_each(mem, 0, MAX_PAGES, |i, pte| {
                e.insert(i, pte);
                if let PteKind::Frame(pfn) = pte.kind() {
                    *maps.entry(pfn.0).or_default() += 1;
                }
                if matches!(pte.kind(), PteKind::Frame(_) | PteKind::Swap(_)) {
                    frames_seen += 1;
                    assert!(
                        model.contains_key(&i),
                        "page {i} has a frame or a slot but was never written"
                    );
                }
            });
            assert_eq!(
                frames_seen,
                model.len(),
                "every written page has a frame or a slot"
            );
        }
        let mut pins: HashMap<u32, u32> = HashMap::new();
        for p in self.pins.iter().chain(self.writes.iter().map(|w| &w.pfn)) {
            *pins.entry(p.0).or_default() += 1;
        }
        // Map count = entries; reference count = entries + pins.
        for (i, f) in frames.iter().enumerate() {
            if f.state() == FrameState::Data {
                let m = maps.get(&(i as u32)).copied().unwrap_or(0);
                let p = pins.get(&(i as u32)).copied().unwrap_or(0);
                assert_eq!(f.mapcount(), m, "frame {i}: map count vs entries");
                assert_eq!(
                    f.refcount(),
                    m + p,
                    "frame {i}: references vs entries + pins"
                );
                assert!(f.refcount() > 0, "frame {i}: a data frame no one holds");
            }
        }
        for pfn in maps.keys().chain(pins.keys()) {
            assert_eq!(frames[*pfn as usize].state(), FrameState::Data);
        }
        // Every slot's count: entries naming it, swap-cache frames holding
        // it, writes in flight to it.
        let mut slots: HashMap<u32, u32> = HashMap::new();
        for e in entries.values() {
            for pte in e.values() {
                if let PteKind::Swap(slot) = pte.kind() {
                    *slots.entry(slot).or_default() += 1;
                }
            }
        }
        for f in frames.iter() {
            if f.state() == FrameState::Data && f.test(pg::SWAPCACHE) {
                *slots.entry(f.private()).or_default() += 1;
            }
        }
        for w in &self.writes {
            *slots.entry(w.slot).or_default() += 1;
        }
        let swap = pool.pool.swap.borrow();
        for slot in 0..SLOTS as u32 {
            assert_eq!(
                swap.count(slot),
                slots.get(&slot).copied().unwrap_or(0),
                "slot {slot}: count vs holders"
            );
        }
        // Every user PTE maps what its space's entry says.
        for (&(proc, s, i), pte) in pool.ptes.borrow().iter() {
            let entry = entries
                .get(&s)
                .and_then(|e| e.get(&i))
                .copied()
                .unwrap_or(Pte::NONE);
            let ok = match pte.map {
                UserMap::Zero => entry.kind() == PteKind::Zero,
                UserMap::Frame(pfn) => {
                    entry.kind() == PteKind::Frame(pfn)
                        && (!pte.writable
                            || (entry.has(Pte::WRITE) && frames[pfn.idx()].mapcount() == 1))
                }
            };
            assert!(
                ok,
                "process {proc} space {s} page {i}: user PTE {pte:?} but entry {entry:?}"
            );
        }
        pool.pool.buddy.borrow().check(frames).unwrap();
    }
}

/// Runs `ops` over a pool of `frames` frames; panics on any inconsistency.
pub fn run(ops: &[Op], frames: usize) {
    let mut w = World::new(frames);
    for op in ops {
        match *op {
            Op::Read { proc, space, page } => w.read(proc, space, PAGES[page]),
            Op::Write {
                proc,
                space,
                page,
                value,
                prealloc,
            } => w.write(proc, space, PAGES[page], value, prealloc),
            Op::Snapshot { from, to, fork } => w.snapshot(from, to, fork),
            Op::Destroy(s) => w.destroy(s),
            Op::Pin(s, p) => {
                if let Some((mm, _)) = &w.spaces[s] {
                    if let PteKind::Frame(pfn) = mm.pt.lookup(&w.pool.pool.mem, PAGES[p]).kind() {
                        get_frame(&w.pool, pfn);
                        w.pins.push(pfn);
                    }
                }
            }
            Op::Unpin(k) => {
                if !w.pins.is_empty() {
                    let pfn = w.pins.swap_remove(k % w.pins.len());
                    put_frame(&w.pool, pfn);
                }
            }
            Op::Pageout(s, p) => w.pageout(s, PAGES[p]),
            Op::PageoutEnd(k, ok) => w.pageout_end(k, ok),
            Op::Discard { space, page, len } => w.discard(space, PAGES[page], len),
        }
        w.check();
    }
    // Everything comes back.
    while !w.writes.is_empty() {
        w.pageout_end(0, true);
    }
    for p in core::mem::take(&mut w.pins) {
        put_frame(&w.pool, p);
    }
    for s in 0..SPACES {
        if w.spaces[s].is_some() {
            w.destroy(s);
        }
    }
    let pool = &w.pool.pool;
    assert_eq!(
        nr_page_table_frames(&pool.frames),
        0,
        "page-table nodes leaked"
    );
    assert_eq!(pool.swap.borrow().used(), 0, "swap slots leaked");
    assert_eq!(
        pool.buddy.borrow().nr_free(),
        pool.frames.len(),
        "frames leaked"
    );
}

/// Runs the operations encoded in `data`: the first byte picks a pool of 24
/// frames (exhaustion) or 400.
pub fn run_bytes(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    run(&decode(rest), if first & 1 == 0 { 24 } else { 400 });
}

/// What the kernel glue does before a fault on a page with no PTE: if the
/// entry names a swap slot, brings it back into a new frame (read with no
/// lock held). `false` if no frame could be had (`SIGBUS`).
fn swap_in(pool: &ModelPool, mm: &mut Mm, idx: u64) -> bool {
    let PteKind::Swap(slot) = mm.pt.lookup(&pool.pool.mem, idx).kind() else {
        return true;
    };
    // The glue holds a count on the slot across the read, so it cannot be
    // freed and reused for another page meanwhile.
    pool.dup_slot(slot);
    let Ok(frame) = pool.alloc_frame() else {
        pool.put_slot(slot);
        return false;
    };
    pool.read_slot(frame, slot);
    let r = mm.swap_in(pool, &mut pool.pool.node_allocator(), idx, slot, frame);
    pool.put_slot(slot);
    match r {
        Ok(true) => {
            let f = &pool.pool.frames[frame.idx()];
            assert!(f.test(pg::SWAPCACHE) && f.private() == slot);
        }
        Ok(false) => panic!("the entry changed under the model's own lock"),
        Err(e) => panic!("swap_in: {e}"),
    }
    true
}
