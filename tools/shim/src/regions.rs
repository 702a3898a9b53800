//! The shim's bookkeeping, without system calls (host-tested): which
//! address ranges of the process are arena memory, mapped from which space
//! file at which page offset, and the page offsets each space file has
//! handed out.
//!
//! Fixed capacity, no heap: the shim runs inside `malloc`, so its own
//! bookkeeping cannot allocate.

/// Bytes in a page.
pub const PAGE: usize = 4096;

/// A range of arena memory: `len` bytes at `start`, mapping pages
/// `pgoff..` of space file `file`. Offsets `pgoff + len / PAGE .. limit`
/// are reserved for it to grow into in place (`mremap`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// First byte (page aligned).
    pub start: usize,
    /// Bytes (whole pages).
    pub len: usize,
    /// Index of the space file ([`Files`]).
    pub file: u16,
    /// Page offset of `start` in the file.
    pub pgoff: u64,
    /// End of the offsets reserved for this mapping.
    pub limit: u64,
    /// Its protection (`PROT_*`), as last set.
    pub prot: i32,
}

impl Region {
    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.start + self.len
    }

    /// Pages.
    pub fn pages(&self) -> u64 {
        (self.len / PAGE) as u64
    }

    /// The part of this region in `start..end` (which must overlap it).
    pub fn clip(&self, start: usize, end: usize) -> Region {
        let s = self.start.max(start);
        let e = self.end().min(end);
        Region {
            start: s,
            len: e - s,
            file: self.file,
            pgoff: self.pgoff + ((s - self.start) / PAGE) as u64,
            limit: self.limit,
            prot: self.prot,
        }
    }
}

/// The table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The arena regions of the process, sorted by address, disjoint.
pub struct Regions<const N: usize> {
    r: [Region; N],
    n: usize,
}

impl<const N: usize> Default for Regions<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Regions<N> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            r: [Region {
                start: 0,
                len: 0,
                file: 0,
                pgoff: 0,
                limit: 0,
                prot: 0,
            }; N],
            n: 0,
        }
    }

    /// Regions in the table.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The regions, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.r[..self.n].iter()
    }

    /// Index of the first region ending after `addr`.
    fn first_ending_after(&self, addr: usize) -> usize {
        self.r[..self.n].partition_point(|r| r.end() <= addr)
    }

    /// Adds `region`, which overlaps none in the table.
    pub fn insert(&mut self, region: Region) -> Result<(), Full> {
        if self.n == N {
            return Err(Full);
        }
        let i = self.first_ending_after(region.start);
        debug_assert!(i == self.n || self.r[i].start >= region.end());
        self.r.copy_within(i..self.n, i + 1);
        self.r[i] = region;
        self.n += 1;
        Ok(())
    }

    /// Calls `f` with the part of each region in `start..start + len`.
    pub fn pieces(&self, start: usize, len: usize, mut f: impl FnMut(Region)) {
        let end = start.saturating_add(len);
        let mut i = self.first_ending_after(start);
        while i < self.n && self.r[i].start < end {
            f(self.r[i].clip(start, end));
            i += 1;
        }
    }

    /// The first `K` parts [`Regions::pieces`] gives (no heap: callers go
    /// round by round), and how many there are of them.
    pub fn first_pieces<const K: usize>(&self, start: usize, len: usize) -> ([Region; K], usize) {
        let mut out = [Region::default(); K];
        let mut n = 0;
        self.pieces(start, len, |p| {
            if n < K {
                out[n] = p;
                n += 1;
            }
        });
        (out, n)
    }

    /// Whether some region overlaps `start..start + len`.
    pub fn overlaps(&self, start: usize, len: usize) -> bool {
        let mut any = false;
        self.pieces(start, len, |_| any = true);
        any
    }

    /// The region containing `addr`.
    pub fn find(&self, addr: usize) -> Option<Region> {
        let i = self.first_ending_after(addr);
        (i < self.n && self.r[i].start <= addr).then(|| self.r[i])
    }

    /// Takes `start..start + len` out of the table (splitting a region that
    /// straddles an end), calling `f` with each part taken, in address
    /// order. `Full` (nothing changed) if a split needs a slot there is not.
    pub fn remove(
        &mut self,
        start: usize,
        len: usize,
        mut f: impl FnMut(Region),
    ) -> Result<(), Full> {
        let end = start.saturating_add(len);
        let lo = self.first_ending_after(start);
        let mut hi = lo;
        while hi < self.n && self.r[hi].start < end {
            hi += 1;
        }
        if lo == hi {
            return Ok(());
        }
        let first = self.r[lo];
        let last = self.r[hi - 1];
        let head = (first.start < start).then(|| first.clip(first.start, start));
        let tail = (last.end() > end).then(|| last.clip(end, last.end()));
        let keep = usize::from(head.is_some()) + usize::from(tail.is_some());
        let new_n = self.n - (hi - lo) + keep;
        if new_n > N {
            return Err(Full);
        }
        for r in &self.r[lo..hi] {
            f(r.clip(start, end));
        }
        // Replace r[lo..hi] by head and tail.
        let mut kept = [Region::default(); 2];
        let mut k = 0;
        for r in [head, tail].into_iter().flatten() {
            kept[k] = r;
            k += 1;
        }
        self.r.copy_within(hi..self.n, lo + k);
        self.r[lo..lo + k].copy_from_slice(&kept[..k]);
        self.n = new_n;
        Ok(())
    }

    /// Whether no region of `file` other than the one starting at `except`
    /// maps an offset in `from..to`.
    pub fn offsets_free(&self, file: u16, from: u64, to: u64, except: usize) -> bool {
        self.iter().all(|r| {
            r.file != file || r.start == except || r.pgoff + r.pages() <= from || r.pgoff >= to
        })
    }

    /// Pages of `file` the table maps.
    pub fn pages_of(&self, file: u16) -> u64 {
        self.iter()
            .filter(|r| r.file == file)
            .map(Region::pages)
            .sum()
    }
}

/// One space file: its fd, the process that made it, and the next page
/// offset it hands out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSlot {
    /// The fd; -1 for a free slot.
    pub fd: i32,
    /// The process that made the file (mapping it again from another
    /// process would map that process's space, not a fork child's copy).
    pub pid: i32,
    /// The next offset to hand out.
    pub next: u64,
}

/// Page offsets in one space file (`PAGEARENA_SPACE_MAX_PAGES`).
pub const FILE_PAGES: u64 = 1 << 28;

/// Offsets reserved for a mapping of `pages`: room to double, rounded up
/// to a power of two, so that a growing `realloc` usually grows in place.
pub fn reservation(pages: u64) -> u64 {
    pages.max(1).next_power_of_two().saturating_mul(2)
}

/// The space files of the process.
pub struct Files<const N: usize> {
    f: [FileSlot; N],
}

impl<const N: usize> Default for Files<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Files<N> {
    /// No files.
    pub const fn new() -> Self {
        Self {
            f: [FileSlot {
                fd: -1,
                pid: 0,
                next: 0,
            }; N],
        }
    }

    /// Slot `i`.
    pub fn get(&self, i: u16) -> Option<&FileSlot> {
        self.f.get(usize::from(i)).filter(|f| f.fd >= 0)
    }

    /// Records a new file; its slot.
    pub fn add(&mut self, fd: i32, pid: i32) -> Result<u16, Full> {
        let i = self.f.iter().position(|f| f.fd < 0).ok_or(Full)?;
        self.f[i] = FileSlot { fd, pid, next: 0 };
        u16::try_from(i).map_err(|_| Full)
    }

    /// Forgets slot `i`; its fd, to close.
    pub fn remove(&mut self, i: u16) -> Option<i32> {
        let f = self.f.get_mut(usize::from(i))?;
        let fd = f.fd;
        *f = FileSlot {
            fd: -1,
            pid: 0,
            next: 0,
        };
        (fd >= 0).then_some(fd)
    }

    /// Hands out offsets for a mapping of `pages` from slot `i`: its first
    /// offset and limit, or `None` if the file has no room left.
    pub fn reserve(&mut self, i: u16, pages: u64) -> Option<(u64, u64)> {
        let f = self.f.get_mut(usize::from(i)).filter(|f| f.fd >= 0)?;
        let want = reservation(pages);
        let at = f.next;
        let limit = at.checked_add(want).filter(|&l| l <= FILE_PAGES)?;
        f.next = limit;
        Some((at, limit))
    }

    /// The slots in use.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &FileSlot)> {
        self.f
            .iter()
            .enumerate()
            .filter(|(_, f)| f.fd >= 0)
            .map(|(i, f)| (i as u16, f))
    }
}

#[cfg(test)]
mod tests {
    //! The tables against a model: a map from each page to its file and
    //! offset.
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert {
            page: usize,
            pages: usize,
            file: u16,
        },
        Remove {
            page: usize,
            pages: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..200usize, 1..20usize, 0..3u16).prop_map(|(page, pages, file)| Op::Insert {
                page,
                pages,
                file
            }),
            (0..200usize, 1..40usize).prop_map(|(page, pages)| Op::Remove { page, pages }),
        ]
    }

    fn check(t: &Regions<16>, model: &BTreeMap<usize, (u16, u64)>) {
        let mut seen = BTreeMap::new();
        let mut last_end = 0;
        for r in t.iter() {
            assert!(r.start >= last_end, "regions overlap or are out of order");
            assert!(r.len > 0);
            last_end = r.end();
            for i in 0..r.pages() as usize {
                seen.insert(r.start / PAGE + i, (r.file, r.pgoff + i as u64));
            }
        }
        assert_eq!(&seen, model, "the table maps what the model does");
        for page in 0..260 {
            let f = t.find(page * PAGE);
            assert_eq!(f.is_some(), model.contains_key(&page), "find({page})");
        }
    }

    proptest! {
        #[test]
        fn regions_match_the_model(ops in prop::collection::vec(op(), 1..80)) {
            let mut t: Regions<16> = Regions::new();
            let mut model = BTreeMap::new();
            let mut next_off = [0u64; 3];
            for op in ops {
                match op {
                    Op::Insert { page, pages, file } => {
                        if (page..page + pages).any(|p| model.contains_key(&p)) {
                            continue;
                        }
                        let off = next_off[file as usize];
                        let r = Region { start: page * PAGE, len: pages * PAGE, file, pgoff: off, limit: off + reservation(pages as u64), prot: 3 };
                        if t.insert(r).is_ok() {
                            next_off[file as usize] = r.limit;
                            for i in 0..pages {
                                model.insert(page + i, (file, off + i as u64));
                            }
                        } else {
                            assert_eq!(t.len(), 16, "insert fails only when full");
                        }
                    }
                    Op::Remove { page, pages } => {
                        let mut got = BTreeMap::new();
                        let before = t.len();
                        let r = t.remove(page * PAGE, pages * PAGE, |p| {
                            for i in 0..p.pages() as usize {
                                got.insert(p.start / PAGE + i, (p.file, p.pgoff + i as u64));
                            }
                        });
                        match r {
                            Ok(()) => {
                                let want: BTreeMap<_, _> = model.range(page..page + pages).map(|(k, v)| (*k, *v)).collect();
                                assert_eq!(got, want, "remove hands back exactly the pages taken");
                                for k in want.keys() {
                                    model.remove(k);
                                }
                            }
                            Err(Full) => {
                                assert!(got.is_empty(), "a failed remove takes nothing");
                                assert_eq!(t.len(), before);
                            }
                        }
                    }
                }
                check(&t, &model);
            }
        }

        #[test]
        fn offsets_are_never_handed_out_twice(sizes in prop::collection::vec(1..5000u64, 1..50)) {
            let mut f: Files<2> = Files::new();
            let i = f.add(3, 1).unwrap();
            let mut taken: Vec<(u64, u64)> = Vec::new();
            for s in sizes {
                if let Some((at, limit)) = f.reserve(i, s) {
                    assert!(limit - at >= 2 * s, "room to double in place");
                    assert!(limit <= FILE_PAGES);
                    for &(a, l) in &taken {
                        assert!(limit <= a || at >= l, "reservations overlap");
                    }
                    taken.push((at, limit));
                }
            }
        }
    }

    #[test]
    fn a_split_in_the_middle_keeps_both_ends_at_their_offsets() {
        let mut t: Regions<4> = Regions::new();
        t.insert(Region {
            start: 10 * PAGE,
            len: 10 * PAGE,
            file: 1,
            pgoff: 100,
            limit: 200,
            prot: 3,
        })
        .unwrap();
        let mut taken = Vec::new();
        t.remove(13 * PAGE, 2 * PAGE, |p| taken.push(p)).unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(
            (taken[0].start, taken[0].pgoff, taken[0].len),
            (13 * PAGE, 103, 2 * PAGE)
        );
        let v: Vec<_> = t
            .iter()
            .map(|r| (r.start / PAGE, r.pages(), r.pgoff))
            .collect();
        assert_eq!(v, vec![(10, 3, 100), (15, 5, 105)]);
        assert!(
            !t.offsets_free(1, 104, 106, usize::MAX),
            "offsets 105.. are still mapped"
        );
        assert!(
            t.offsets_free(1, 103, 105, usize::MAX),
            "the hole's offsets are not"
        );
    }

    #[test]
    fn first_pieces_stops_at_its_capacity_and_clips() {
        let mut t: Regions<8> = Regions::new();
        for i in 0..5 {
            t.insert(Region {
                start: i * 4 * PAGE,
                len: 2 * PAGE,
                file: 0,
                pgoff: i as u64 * 8,
                limit: i as u64 * 8 + 4,
                prot: 3,
            })
            .unwrap();
        }
        let (p, n) = t.first_pieces::<3>(PAGE, 100 * PAGE);
        assert_eq!(n, 3);
        assert_eq!(
            (p[0].start, p[0].len, p[0].pgoff),
            (PAGE, PAGE, 1),
            "clipped at the start"
        );
        assert_eq!(p[2].start, 8 * PAGE);
    }

    #[test]
    fn a_full_table_refuses_a_split_and_changes_nothing() {
        let mut t: Regions<2> = Regions::new();
        t.insert(Region {
            start: 0,
            len: 10 * PAGE,
            file: 0,
            pgoff: 0,
            limit: 32,
            prot: 3,
        })
        .unwrap();
        t.insert(Region {
            start: 20 * PAGE,
            len: PAGE,
            file: 0,
            pgoff: 32,
            limit: 34,
            prot: 3,
        })
        .unwrap();
        assert_eq!(
            t.remove(2 * PAGE, PAGE, |_| panic!("nothing is taken")),
            Err(Full)
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(2 * PAGE).map(|r| r.len), Some(10 * PAGE));
    }
}
