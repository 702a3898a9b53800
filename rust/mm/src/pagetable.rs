// SPDX-License-Identifier: GPL-2.0

//! Per-space page tables: a radix tree mapping page index -> [`Pte`], shaped
//! like the x86-64 PGD/PUD/PMD/PTE tree (four levels of 512 entries, 9 bits of
//! the index each, 2^36 pages per space).
//!
//! A node is one whole arena frame of 512 entries, from the buddy allocator
//! (through a [`NodeAllocator`]), like Linux's page-table pages
//! (`pagetable_alloc`); the count of its non-none entries is kept in the
//! frame's descriptor ([`Frame::count`] of a [`FrameState::PageTable`] frame,
//! as `struct ptdesc` keeps page-table state in `struct page`). So a node
//! needs an order-0 block and nothing more, which is what a fragmented arena
//! under reclaim has. An interior entry points at the node below; a leaf
//! entry says where the page is: nowhere yet, the zero page, a frame, or a
//! swap slot, with dirty / writable / referenced flags. A node whose last
//! entry is cleared is freed at once, so an empty table holds no node at all.

use super::buddy::PageAllocator;
use super::error::{Error, Result};
use super::frame::{Frame, FrameState};
use super::memory::{FrameMemory, Pfn, PhysAddr, PAGE_SIZE};

/// Levels of the tree.
pub const PT_LEVELS: u32 = 4;
/// Index bits resolved per level.
pub const PT_BITS: u32 = 9;
/// Entries per node.
pub const PTRS_PER_TABLE: usize = 1 << PT_BITS;
/// Pages one table can map: page indexes are below this.
pub const MAX_PAGES: u64 = 1 << (PT_LEVELS * PT_BITS);
/// Bytes in a node: one frame.
pub const NODE_SIZE: usize = 8 * PTRS_PER_TABLE;
const _: () = assert!(NODE_SIZE == PAGE_SIZE);

/// Where a page table's nodes come from.
pub trait NodeAllocator {
    /// The frame table, where each node's count of entries in use is kept.
    fn frames(&self) -> &[Frame];
    /// A zeroed frame for a node: [`FrameState::PageTable`], count 0 (see
    /// [`take_node`]).
    fn alloc_node(&mut self) -> Result<Pfn>;
    /// Gives back a node whose count is 0 (see [`release_node`]).
    fn free_node(&mut self, node: Pfn) -> Result;
}

/// Makes `pfn`, an order-0 block just allocated, an empty node.
pub fn take_node<M: FrameMemory>(frames: &[Frame], mem: &M, pfn: Pfn) -> Result {
    let f = frames.get(pfn.idx()).ok_or(Error::Invalid)?;
    mem.clear_page(pfn);
    f.set_state(FrameState::PageTable);
    f.set_count(0);
    Ok(())
}

/// Checks that `pfn` is an empty node and makes it an untyped block again,
/// ready for the buddy.
pub fn release_node(frames: &[Frame], pfn: Pfn) -> Result {
    let f = frames.get(pfn.idx()).ok_or(Error::Invalid)?;
    if f.state() != FrameState::PageTable {
        return Err(Error::Foreign);
    }
    if f.count() != 0 {
        return Err(Error::Corrupted("freeing a page-table node with entries"));
    }
    f.set_state(FrameState::Allocated);
    Ok(())
}

/// Page-table nodes straight from a [`PageAllocator`]: the plain
/// [`NodeAllocator`] (the kernel glue has its own, which takes the buddy's
/// lock).
pub struct PageTableNodes<'a, M, P> {
    /// The frame table.
    pub frames: &'a [Frame],
    /// The frames' contents.
    pub mem: &'a M,
    /// Where nodes come from.
    pub pages: &'a mut P,
}

impl<M: FrameMemory, P: PageAllocator> NodeAllocator for PageTableNodes<'_, M, P> {
    fn frames(&self) -> &[Frame] {
        self.frames
    }

    fn alloc_node(&mut self) -> Result<Pfn> {
        let pfn = self.pages.alloc_pages(0)?;
        if let Err(e) = take_node(self.frames, self.mem, pfn) {
            let _ = self.pages.free_pages(pfn, 0);
            return Err(e);
        }
        Ok(pfn)
    }

    fn free_node(&mut self, node: Pfn) -> Result {
        release_node(self.frames, node)?;
        self.pages.free_pages(node, 0)
    }
}

const KIND_MASK: u64 = 0x7;
const KIND_ZERO: u64 = 1;
const KIND_FRAME: u64 = 2;
const KIND_SWAP: u64 = 3;
const KIND_TABLE: u64 = 4;
const FLAGS_MASK: u64 = 0xfff8;
const PAYLOAD_SHIFT: u32 = 16;

/// Where a page is, according to its leaf entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteKind {
    /// Never touched (or discarded): reads as zeroes.
    None,
    /// Read once, never written: mapped to the shared zero page.
    Zero,
    /// In a frame.
    Frame(Pfn),
    /// In a swap slot.
    Swap(u32),
}

/// A page-table entry: a kind, a payload (frame or slot) and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pte(u64);

impl Pte {
    /// The empty entry.
    pub const NONE: Pte = Pte(0);
    /// The page was written since it was last clean (`_PAGE_DIRTY`).
    pub const DIRTY: u64 = 1 << 3;
    /// The page is mapped writable in user space (`_PAGE_RW`).
    pub const WRITE: u64 = 1 << 4;
    /// The page was accessed since reclaim last looked (`_PAGE_ACCESSED`).
    pub const REFERENCED: u64 = 1 << 5;

    /// An entry for the zero page.
    pub const fn zero() -> Pte {
        Pte(KIND_ZERO)
    }

    /// An entry for frame `pfn` with `flags`.
    pub const fn frame(pfn: Pfn, flags: u64) -> Pte {
        Pte(KIND_FRAME | (flags & FLAGS_MASK) | ((pfn.0 as u64) << PAYLOAD_SHIFT))
    }

    /// An entry for swap slot `slot` with `flags`.
    pub const fn swap(slot: u32, flags: u64) -> Pte {
        Pte(KIND_SWAP | (flags & FLAGS_MASK) | ((slot as u64) << PAYLOAD_SHIFT))
    }

    const fn table(node: PhysAddr) -> Pte {
        Pte(KIND_TABLE | ((node.0 >> 3) << PAYLOAD_SHIFT))
    }

    const fn node(self) -> PhysAddr {
        PhysAddr((self.0 >> PAYLOAD_SHIFT) << 3)
    }

    const fn is_table(self) -> bool {
        self.0 & KIND_MASK == KIND_TABLE
    }

    /// Where the page is.
    pub const fn kind(self) -> PteKind {
        let payload = (self.0 >> PAYLOAD_SHIFT) as u32;
        match self.0 & KIND_MASK {
            KIND_ZERO => PteKind::Zero,
            KIND_FRAME => PteKind::Frame(Pfn(payload)),
            KIND_SWAP => PteKind::Swap(payload),
            _ => PteKind::None,
        }
    }

    /// Whether this is the empty entry.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// The entry's flags (`DIRTY`, `WRITE`, `REFERENCED`).
    pub const fn flags(self) -> u64 {
        self.0 & FLAGS_MASK
    }

    /// Whether all of `flags` are set.
    pub const fn has(self, flags: u64) -> bool {
        self.0 & flags == flags
    }

    /// This entry with `flags` added.
    pub const fn with(self, flags: u64) -> Pte {
        Pte(self.0 | (flags & FLAGS_MASK))
    }

    /// This entry with `flags` removed.
    pub const fn without(self, flags: u64) -> Pte {
        Pte(self.0 & !(flags & FLAGS_MASK))
    }

    /// The raw 64-bit value.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

/// A page table.
///
/// # Invariants
///
/// `root` is `None` iff the table maps nothing. Every node's frame
/// descriptor counts its non-none entries ([`Frame::count`]), never 0 for a
/// reachable node; interior entries are
/// `KIND_TABLE` and leaves never are. `nr_nodes` counts reachable nodes and
/// `nr_entries` non-none leaves.
#[derive(Debug, Default)]
pub struct PageTable {
    root: Option<PhysAddr>,
    nr_nodes: usize,
    nr_entries: u64,
}

#[inline]
fn slot(index: u64, level: u32) -> usize {
    ((index >> (level * PT_BITS)) as usize) & (PTRS_PER_TABLE - 1)
}

#[inline]
fn entry_addr(node: PhysAddr, i: usize) -> PhysAddr {
    node.word(i)
}

/// Entries in use in `node`.
#[inline]
fn node_count(frames: &[Frame], node: PhysAddr) -> u64 {
    frames
        .get(node.pfn().idx())
        .map_or(0, |f| u64::from(f.count()))
}

/// Adds one entry in use to `node` (`delta` 1) or takes one (-1); returns
/// the new count.
#[inline]
fn add_count(frames: &[Frame], node: PhysAddr, delta: i64) -> u64 {
    match frames.get(node.pfn().idx()) {
        Some(f) if delta > 0 => u64::from(f.inc_count()),
        Some(f) => u64::from(f.dec_count()),
        None => 0,
    }
}

/// A new empty node.
#[inline]
fn new_node(nodes: &mut impl NodeAllocator) -> Result<PhysAddr> {
    nodes.alloc_node().map(Pfn::addr)
}

impl PageTable {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            root: None,
            nr_nodes: 0,
            nr_entries: 0,
        }
    }

    /// Nodes the table uses.
    pub fn nr_nodes(&self) -> usize {
        self.nr_nodes
    }

    /// Non-none leaf entries.
    pub fn nr_entries(&self) -> u64 {
        self.nr_entries
    }

    /// The entry for page `index` (none beyond [`MAX_PAGES`]).
    #[inline]
    pub fn lookup<M: FrameMemory>(&self, mem: &M, index: u64) -> Pte {
        let Some(mut node) = self.root else {
            return Pte::NONE;
        };
        if index >= MAX_PAGES {
            return Pte::NONE;
        }
        let mut level = PT_LEVELS - 1;
        loop {
            let e = Pte(mem.load(entry_addr(node, slot(index, level))));
            if level == 0 {
                return e;
            }
            if !e.is_table() {
                return Pte::NONE;
            }
            node = e.node();
            level -= 1;
        }
    }

    /// Sets the entry for page `index` to `pte`, allocating nodes on the way;
    /// returns the old entry. Setting [`Pte::NONE`] is [`PageTable::clear`].
    /// On error ([`Error::Invalid`] index, [`Error::NoMemory`] for a node) the
    /// table is unchanged.
    pub fn set<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        index: u64,
        pte: Pte,
    ) -> Result<Pte> {
        if index >= MAX_PAGES || pte.is_table() {
            return Err(Error::Invalid);
        }
        if pte.is_none() {
            return self.clear(mem, nodes, index);
        }
        let root = match self.root {
            Some(root) => root,
            None => {
                let root = new_node(nodes)?;
                self.nr_nodes += 1;
                self.root = Some(root);
                root
            }
        };
        let mut node = root;
        let mut level = PT_LEVELS - 1;
        while level > 0 {
            let ea = entry_addr(node, slot(index, level));
            let e = Pte(mem.load(ea));
            node = if e.is_table() {
                e.node()
            } else {
                match new_node(nodes) {
                    Ok(child) => {
                        self.nr_nodes += 1;
                        mem.store(ea, Pte::table(child).0);
                        add_count(nodes.frames(), node, 1);
                        child
                    }
                    Err(err) => {
                        // Undo the empty nodes this call made.
                        self.prune(mem, nodes, index)?;
                        return Err(err);
                    }
                }
            };
            level -= 1;
        }
        let ea = entry_addr(node, slot(index, 0));
        let old = Pte(mem.load(ea));
        mem.store(ea, pte.0);
        if old.is_none() {
            add_count(nodes.frames(), node, 1);
            self.nr_entries += 1;
        }
        Ok(old)
    }

    /// Clears the entry for page `index`, freeing nodes that become empty;
    /// returns the old entry.
    pub fn clear<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        index: u64,
    ) -> Result<Pte> {
        let Some(root) = self.root else {
            return Ok(Pte::NONE);
        };
        if index >= MAX_PAGES {
            return Ok(Pte::NONE);
        }
        let mut node = root;
        for level in (1..PT_LEVELS).rev() {
            let e = Pte(mem.load(entry_addr(node, slot(index, level))));
            if !e.is_table() {
                return Ok(Pte::NONE);
            }
            node = e.node();
        }
        let ea = entry_addr(node, slot(index, 0));
        let old = Pte(mem.load(ea));
        if old.is_none() {
            return Ok(old);
        }
        mem.store(ea, 0);
        self.nr_entries -= 1;
        if add_count(nodes.frames(), node, -1) == 0 {
            self.prune(mem, nodes, index)?;
        }
        Ok(old)
    }

    /// Frees the empty nodes on the path to `index`, bottom up.
    fn prune<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        index: u64,
    ) -> Result {
        let Some(root) = self.root else { return Ok(()) };
        let mut path = [root; PT_LEVELS as usize];
        let mut depth = 1;
        let mut node = root;
        for level in (1..PT_LEVELS).rev() {
            let e = Pte(mem.load(entry_addr(node, slot(index, level))));
            if !e.is_table() {
                break;
            }
            node = e.node();
            path[depth] = node;
            depth += 1;
        }
        // path[d] is the node at level PT_LEVELS - 1 - d.
        while depth > 0 {
            let d = depth - 1;
            let node = path[d];
            if node_count(nodes.frames(), node) != 0 {
                break;
            }
            nodes.free_node(node.pfn())?;
            self.nr_nodes -= 1;
            if d == 0 {
                self.root = None;
            } else {
                let level = PT_LEVELS - d as u32;
                let parent = path[d - 1];
                mem.store(entry_addr(parent, slot(index, level)), 0);
                add_count(nodes.frames(), parent, -1);
            }
            depth -= 1;
        }
        Ok(())
    }

    /// Calls `f(index, pte)` for every non-none leaf with `start <= index < end`,
    /// in index order.
    pub fn for_each<M: FrameMemory>(
        &self,
        mem: &M,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, Pte),
    ) {
        if let Some(root) = self.root {
            Self::walk(
                mem,
                root,
                PT_LEVELS - 1,
                0,
                start,
                end.min(MAX_PAGES),
                &mut f,
            );
        }
    }

    fn walk<M: FrameMemory>(
        mem: &M,
        node: PhysAddr,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        f: &mut impl FnMut(u64, Pte),
    ) {
        let span = 1u64 << (level * PT_BITS);
        for i in 0..PTRS_PER_TABLE {
            let lo = base + i as u64 * span;
            if lo >= end {
                break;
            }
            if lo + span <= start {
                continue;
            }
            let e = Pte(mem.load(entry_addr(node, i)));
            if level == 0 {
                if !e.is_none() {
                    f(lo, e);
                }
            } else if e.is_table() {
                Self::walk(mem, e.node(), level - 1, lo, start, end, f);
            }
        }
    }

    /// Replaces every non-none leaf with `start <= index < end` by
    /// `f(index, pte)`, in index order. Leaves replaced by [`Pte::NONE`] are
    /// cleared and nodes left empty are freed (`zap_page_range` when `f`
    /// returns none, write-protection when it drops [`Pte::WRITE`]).
    pub fn update<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, Pte) -> Pte,
    ) -> Result {
        let Some(root) = self.root else { return Ok(()) };
        let end = end.min(MAX_PAGES);
        self.walk_mut(mem, nodes, root, PT_LEVELS - 1, 0, start, end, &mut f)?;
        if node_count(nodes.frames(), root) == 0 {
            nodes.free_node(root.pfn())?;
            self.nr_nodes -= 1;
            self.root = None;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_mut<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        node: PhysAddr,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        f: &mut impl FnMut(u64, Pte) -> Pte,
    ) -> Result {
        let span = 1u64 << (level * PT_BITS);
        for i in 0..PTRS_PER_TABLE {
            let lo = base + i as u64 * span;
            if lo >= end {
                break;
            }
            if lo + span <= start {
                continue;
            }
            let ea = entry_addr(node, i);
            let e = Pte(mem.load(ea));
            if level == 0 {
                if e.is_none() {
                    continue;
                }
                let new = f(lo, e);
                if new.is_table() {
                    return Err(Error::Invalid);
                }
                mem.store(ea, new.0);
                if new.is_none() {
                    add_count(nodes.frames(), node, -1);
                    self.nr_entries -= 1;
                }
            } else if e.is_table() {
                let child = e.node();
                self.walk_mut(mem, nodes, child, level - 1, lo, start, end, f)?;
                if node_count(nodes.frames(), child) == 0 {
                    nodes.free_node(child.pfn())?;
                    self.nr_nodes -= 1;
                    mem.store(ea, 0);
                    add_count(nodes.frames(), node, -1);
                }
            }
        }
        Ok(())
    }

    /// Clears every entry, calling `f(index, pte)` on each non-none leaf first,
    /// and frees every node (`free_pgtables`).
    pub fn destroy<M: FrameMemory>(
        &mut self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
        mut f: impl FnMut(u64, Pte),
    ) -> Result {
        self.update(mem, nodes, 0, MAX_PAGES, |i, pte| {
            f(i, pte);
            Pte::NONE
        })
    }

    /// A copy of this table with its own nodes and the same leaves. The
    /// callers adjust share counts and write permissions afterwards with
    /// [`PageTable::update`] on either table. On error nothing is left allocated.
    pub fn duplicate<M: FrameMemory>(
        &self,
        mem: &M,
        nodes: &mut impl NodeAllocator,
    ) -> Result<PageTable> {
        let mut copy = PageTable::new();
        if let Some(root) = self.root {
            let root = Self::copy_node(mem, nodes, root, PT_LEVELS - 1, &mut copy.nr_nodes)?;
            copy.root = Some(root);
            copy.nr_entries = self.nr_entries;
        }
        Ok(copy)
    }

    fn copy_node<M: FrameMemory>(
        mem: &M,
        nodes: &mut impl NodeAllocator,
        src: PhysAddr,
        level: u32,
        nr_nodes: &mut usize,
    ) -> Result<PhysAddr> {
        let dst = new_node(nodes)?;
        *nr_nodes += 1;
        for i in 0..PTRS_PER_TABLE {
            let e = Pte(mem.load(entry_addr(src, i)));
            if e.is_none() {
                continue;
            }
            let copied = if level == 0 {
                e
            } else {
                match Self::copy_node(mem, nodes, e.node(), level - 1, nr_nodes) {
                    Ok(child) => Pte::table(child),
                    Err(err) => {
                        Self::free_subtree(mem, nodes, dst, level, nr_nodes)?;
                        return Err(err);
                    }
                }
            };
            mem.store(entry_addr(dst, i), copied.0);
            add_count(nodes.frames(), dst, 1);
        }
        Ok(dst)
    }

    fn free_subtree<M: FrameMemory>(
        mem: &M,
        nodes: &mut impl NodeAllocator,
        node: PhysAddr,
        level: u32,
        nr_nodes: &mut usize,
    ) -> Result {
        if level > 0 {
            for i in 0..PTRS_PER_TABLE {
                let e = Pte(mem.load(entry_addr(node, i)));
                if e.is_table() {
                    Self::free_subtree(mem, nodes, e.node(), level - 1, nr_nodes)?;
                }
            }
        }
        *nr_nodes -= 1;
        // Discarded whole: its entries go with it.
        if let Some(f) = nodes.frames().get(node.pfn().idx()) {
            f.set_count(0);
        }
        nodes.free_node(node.pfn())
    }

    /// Checks the table's invariants: node counts match their entries, no
    /// reachable empty node, totals match.
    pub fn check<M: FrameMemory>(
        &self,
        mem: &M,
        frames: &[Frame],
    ) -> core::result::Result<(), &'static str> {
        let Some(root) = self.root else {
            return if self.nr_nodes == 0 && self.nr_entries == 0 {
                Ok(())
            } else {
                Err("empty table with nodes or entries counted")
            };
        };
        let (mut nodes, mut entries) = (0usize, 0u64);
        Self::check_node(mem, frames, root, PT_LEVELS - 1, &mut nodes, &mut entries)?;
        if nodes != self.nr_nodes {
            return Err("nr_nodes differs from the reachable nodes");
        }
        if entries != self.nr_entries {
            return Err("nr_entries differs from the non-none leaves");
        }
        Ok(())
    }

    fn check_node<M: FrameMemory>(
        mem: &M,
        frames: &[Frame],
        node: PhysAddr,
        level: u32,
        nodes: &mut usize,
        entries: &mut u64,
    ) -> core::result::Result<(), &'static str> {
        *nodes += 1;
        let mut n = 0u64;
        for i in 0..PTRS_PER_TABLE {
            let e = Pte(mem.load(entry_addr(node, i)));
            if e.is_none() {
                continue;
            }
            n += 1;
            if level == 0 {
                if e.is_table() {
                    return Err("table entry at the leaf level");
                }
                *entries += 1;
            } else {
                if !e.is_table() {
                    return Err("leaf entry above the leaf level");
                }
                Self::check_node(mem, frames, e.node(), level - 1, nodes, entries)?;
            }
        }
        if n == 0 {
            return Err("reachable empty node");
        }
        if frames.get(node.pfn().idx()).map(Frame::state) != Some(FrameState::PageTable) {
            return Err("a node that is not a page-table frame");
        }
        if n != node_count(frames, node) {
            return Err("node count differs from its entries");
        }
        Ok(())
    }
}
