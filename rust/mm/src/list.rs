// SPDX-License-Identifier: GPL-2.0

//! Intrusive doubly linked lists of frames, threaded through the `next`/`prev`
//! fields of the frame table (`include/linux/list.h` over `page->lru`).
//!
//! One list type serves the buddy free lists, the slab full/partial/empty
//! lists and the LRU lists. A frame is on at most one list at a time; which
//! one is known from its state and flags, not from the list.

use super::frame::{Frame, NIL};
use super::memory::Pfn;

/// A list of frames. The list itself is a head, a tail and a length; the links
/// live in the frames.
///
/// # Invariants
///
/// `head`..`tail` following `next` visits exactly `len` frames, and `prev`
/// links mirror `next` links; `head == NIL` iff `len == 0`.
#[derive(Debug)]
pub struct FrameList {
    head: u32,
    tail: u32,
    len: usize,
}

impl Default for FrameList {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Number of frames on the list.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first frame.
    #[inline]
    pub fn front(&self) -> Option<Pfn> {
        (self.head != NIL).then_some(Pfn(self.head))
    }

    /// The last frame.
    #[inline]
    pub fn back(&self) -> Option<Pfn> {
        (self.tail != NIL).then_some(Pfn(self.tail))
    }

    /// Adds `pfn` (on no list) at the front.
    #[inline]
    pub fn push_front(&mut self, frames: &[Frame], pfn: Pfn) {
        let f = &frames[pfn.idx()];
        f.set_prev(NIL);
        f.set_next(self.head);
        if self.head == NIL {
            self.tail = pfn.0;
        } else {
            frames[self.head as usize].set_prev(pfn.0);
        }
        self.head = pfn.0;
        self.len += 1;
    }

    /// Adds `pfn` (on no list) at the back.
    #[inline]
    pub fn push_back(&mut self, frames: &[Frame], pfn: Pfn) {
        let f = &frames[pfn.idx()];
        f.set_next(NIL);
        f.set_prev(self.tail);
        if self.tail == NIL {
            self.head = pfn.0;
        } else {
            frames[self.tail as usize].set_next(pfn.0);
        }
        self.tail = pfn.0;
        self.len += 1;
    }

    /// Unlinks `pfn`, which must be on this list.
    #[inline]
    pub fn remove(&mut self, frames: &[Frame], pfn: Pfn) {
        let f = &frames[pfn.idx()];
        let (prev, next) = (f.prev(), f.next());
        if prev == NIL {
            self.head = next;
        } else {
            frames[prev as usize].set_next(next);
        }
        if next == NIL {
            self.tail = prev;
        } else {
            frames[next as usize].set_prev(prev);
        }
        f.set_next(NIL);
        f.set_prev(NIL);
        self.len -= 1;
    }

    /// Removes and returns the first frame.
    #[inline]
    pub fn pop_front(&mut self, frames: &[Frame]) -> Option<Pfn> {
        let pfn = self.front()?;
        self.remove(frames, pfn);
        Some(pfn)
    }

    /// Removes and returns the last frame.
    #[inline]
    pub fn pop_back(&mut self, frames: &[Frame]) -> Option<Pfn> {
        let pfn = self.back()?;
        self.remove(frames, pfn);
        Some(pfn)
    }

    /// Iterates from front to back. The list must not change meanwhile.
    pub fn iter<'a>(&self, frames: &'a [Frame]) -> Iter<'a> {
        Iter {
            frames,
            cur: self.head,
            left: self.len,
        }
    }

    /// Checks the list's links: `Ok(())` or a description of the first fault.
    pub fn check(&self, frames: &[Frame]) -> Result<(), &'static str> {
        let mut prev = NIL;
        let mut cur = self.head;
        let mut n = 0usize;
        while cur != NIL {
            let f = frames
                .get(cur as usize)
                .ok_or("list link outside the frame table")?;
            if f.prev() != prev {
                return Err("list prev link does not mirror next");
            }
            n += 1;
            if n > self.len {
                return Err("list longer than its length (or a cycle)");
            }
            prev = cur;
            cur = f.next();
        }
        if prev != self.tail {
            return Err("list tail is not the last frame");
        }
        if n != self.len {
            return Err("list shorter than its length");
        }
        Ok(())
    }
}

/// Iterator over a [`FrameList`].
pub struct Iter<'a> {
    frames: &'a [Frame],
    cur: u32,
    left: usize,
}

impl Iterator for Iter<'_> {
    type Item = Pfn;

    fn next(&mut self) -> Option<Pfn> {
        if self.cur == NIL || self.left == 0 {
            return None;
        }
        let pfn = Pfn(self.cur);
        self.cur = self.frames.get(self.cur as usize).map_or(NIL, Frame::next);
        self.left -= 1;
        Some(pfn)
    }
}
