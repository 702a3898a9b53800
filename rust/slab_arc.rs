// SPDX-License-Identifier: GPL-2.0

//! Reference-counted objects in the arena's own slab caches: how the module
//! keeps its per-space metadata in arena frames instead of kmalloc, the way
//! the kernel keeps `mm_struct`s in `mm_cachep` and counts them with
//! `mmgrab`/`mmdrop`.
//!
//! [`ArenaArc<T>`] is `Arc<T>` whose allocation is an object of `T`'s cache
//! in the arena ([`ArenaObject::cache`]); [`ArenaArcBorrow`] is its
//! `ArcBorrow`. It implements [`ForeignOwnable`], so it can be a misc
//! device's file data and a VMA's `vm_private_data`.

use crate::{
    arena::{arena, Arena, ArenaPages},
    mm::{memory::PhysAddr, slab::SlabCache},
};
use core::{
    ffi::c_void,
    marker::PhantomData,
    ops::Deref,
    ptr::NonNull,
    sync::atomic::{fence, AtomicUsize, Ordering},
};
use kernel::{prelude::*, sync::SpinLock, types::ForeignOwnable};

/// A type whose values live in one of the arena's slab caches.
pub trait ArenaObject: Send + Sync + Sized + 'static {
    /// The cache (sized with [`ArenaArc::OBJECT_SIZE`] and
    /// [`ArenaArc::OBJECT_ALIGN`]).
    fn cache(arena: &Arena) -> &SpinLock<SlabCache>;
}

/// The slab object: a reference count, the object's arena address, the value.
#[repr(C)]
struct Inner<T> {
    refs: AtomicUsize,
    addr: PhysAddr,
    value: T,
}

/// A reference-counted `T` in an object of `T`'s arena slab cache.
///
/// # Invariants
///
/// `ptr` points at an initialised `Inner<T>` in the object of `T::cache`
/// at `(*ptr).addr`, which stays allocated while `refs` > 0; `refs` counts
/// the `ArenaArc`s (including those handed to C by `into_foreign`). The value
/// is pinned: it never moves before it is dropped.
pub struct ArenaArc<T: ArenaObject> {
    ptr: NonNull<Inner<T>>,
    _p: PhantomData<Inner<T>>,
}

// An `ArenaArc` is a pointer: moving it never moves the value.
impl<T: ArenaObject> Unpin for ArenaArc<T> {}

// SAFETY: An `ArenaArc<T>` gives shared access to `T` from any thread and
// may drop `T` on any thread, which `T: Send + Sync` allows; the count is
// atomic.
unsafe impl<T: ArenaObject> Send for ArenaArc<T> {}
// SAFETY: As above.
unsafe impl<T: ArenaObject> Sync for ArenaArc<T> {}

impl<T: ArenaObject> ArenaArc<T> {
    /// Bytes of a slab object of `T`'s cache.
    pub const OBJECT_SIZE: usize = core::mem::size_of::<Inner<T>>();
    /// Alignment of a slab object of `T`'s cache.
    pub const OBJECT_ALIGN: usize = core::mem::align_of::<Inner<T>>();

    /// Allocates an object of `T`'s cache and initialises it with `init`.
    pub fn pin_init<E>(init: impl PinInit<T, E>) -> Result<Self>
    where
        Error: From<E>,
    {
        let a = arena();
        let addr = T::cache(a)
            .lock()
            .alloc(&a.frames, &a.mem, &mut ArenaPages { arena: a })?;
        let Some(raw) = a.mem.virt(addr) else {
            Self::free(a, addr);
            return Err(EINVAL);
        };
        let ptr = raw.cast::<Inner<T>>();
        if !ptr.is_aligned() {
            Self::free(a, addr);
            return Err(EINVAL);
        }
        // The cache was made with `OBJECT_SIZE` and `OBJECT_ALIGN`; `init`
        // initialises `value` in place, where it stays until it is dropped.
        // SAFETY: `ptr` is an aligned slab object of `OBJECT_SIZE` bytes that
        // we own until we free it; the writes initialise it field by field.
        unsafe {
            core::ptr::addr_of_mut!((*ptr).refs).write(AtomicUsize::new(1));
            core::ptr::addr_of_mut!((*ptr).addr).write(addr);
            if let Err(e) = init.__init(core::ptr::addr_of_mut!((*ptr).value)) {
                Self::free(a, addr);
                return Err(e.into());
            }
        }
        // INVARIANT: initialised, one reference (this one).
        Ok(Self {
            // SAFETY: `ptr` came from a non-null direct-map address.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _p: PhantomData,
        })
    }

    fn free(a: &Arena, addr: PhysAddr) {
        let r = T::cache(a)
            .lock()
            .free(&a.frames, &a.mem, &mut ArenaPages { arena: a }, addr);
        kernel::warn_on!(r.is_err());
    }

    /// A new reference to the value at `value`, unless its count is already
    /// 0 (it is being dropped): `kref_get_unless_zero`, how a lookup
    /// structure that does not hold references (the space registry) hands
    /// out objects.
    ///
    /// # Safety
    ///
    /// `value` is the value of an [`ArenaArc<T>`] object whose memory stays
    /// allocated for the duration of the call (the caller holds the lock
    /// under which the object is unlisted before it is freed).
    pub unsafe fn try_get(value: *const T) -> Option<Self> {
        let off = core::mem::offset_of!(Inner<T>, value);
        // SAFETY: `value` is the `value` field of an `Inner<T>` (caller's
        // contract), so stepping back by its offset stays in that object.
        let inner = unsafe { value.cast::<u8>().sub(off) }.cast::<Inner<T>>();
        // SAFETY: The object is allocated (caller's contract); `refs` is an
        // atomic, valid to touch while it is, whatever its value.
        let refs = unsafe { &(*inner).refs };
        refs.fetch_update(Ordering::Acquire, Ordering::Relaxed, |c| {
            (c != 0).then(|| c + 1)
        })
        .ok()?;
        // INVARIANT: The count was not 0, so the value is initialised and
        // not being dropped; it includes the reference we just took.
        Some(Self {
            // SAFETY: Derived from a non-null reference's address.
            ptr: unsafe { NonNull::new_unchecked(inner.cast_mut()) },
            _p: PhantomData,
        })
    }

    /// Whether `a` and `b` are the same object.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// A borrow of this reference.
    pub fn as_borrow(&self) -> ArenaArcBorrow<'_, T> {
        // INVARIANT: `self` keeps the object alive for the borrow's lifetime.
        ArenaArcBorrow {
            ptr: self.ptr,
            _p: PhantomData,
        }
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: By the type invariant the object is initialised and alive
        // while `self` is.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ArenaObject> Deref for ArenaArc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: ArenaObject> Clone for ArenaArc<T> {
    fn clone(&self) -> Self {
        self.inner().refs.fetch_add(1, Ordering::Relaxed);
        // INVARIANT: the count includes the new reference.
        Self {
            ptr: self.ptr,
            _p: PhantomData,
        }
    }
}

impl<T: ArenaObject> Drop for ArenaArc<T> {
    fn drop(&mut self) {
        if self.inner().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let addr = self.inner().addr;
        // SAFETY: This was the last reference (type invariant), so no one
        // else can reach the value; it is dropped in place, once, and the
        // object is then given back to its cache.
        unsafe { core::ptr::drop_in_place(core::ptr::addr_of_mut!((*self.ptr.as_ptr()).value)) };
        Self::free(arena(), addr);
    }
}

/// A borrowed [`ArenaArc`] (like `ArcBorrow`): the value is alive for `'a`.
///
/// # Invariants
///
/// `ptr` is the object of an `ArenaArc` that lives at least for `'a`.
pub struct ArenaArcBorrow<'a, T: ArenaObject> {
    ptr: NonNull<Inner<T>>,
    _p: PhantomData<&'a T>,
}

impl<T: ArenaObject> Clone for ArenaArcBorrow<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ArenaObject> Copy for ArenaArcBorrow<'_, T> {}

impl<T: ArenaObject> Deref for ArenaArcBorrow<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant the object is alive for `'a`.
        unsafe { &self.ptr.as_ref().value }
    }
}

impl<T: ArenaObject> From<ArenaArcBorrow<'_, T>> for ArenaArc<T> {
    fn from(b: ArenaArcBorrow<'_, T>) -> Self {
        // SAFETY: By the type invariant of the borrow the object is alive,
        // so its count is at least 1 and may be raised.
        unsafe { b.ptr.as_ref() }
            .refs
            .fetch_add(1, Ordering::Relaxed);
        // INVARIANT: the count includes the new reference.
        Self {
            ptr: b.ptr,
            _p: PhantomData,
        }
    }
}

// SAFETY: `into_foreign` returns the object's address, which `from_foreign`
// and `borrow` turn back into the same `ArenaArc` / borrow; the pointer is
// aligned to `align_of::<Inner<T>>()`.
unsafe impl<T: ArenaObject> ForeignOwnable for ArenaArc<T> {
    const FOREIGN_ALIGN: usize = core::mem::align_of::<Inner<T>>();

    type Borrowed<'a> = ArenaArcBorrow<'a, T>;
    type BorrowedMut<'a> = ArenaArcBorrow<'a, T>;

    fn into_foreign(self) -> *mut c_void {
        core::mem::ManuallyDrop::new(self).ptr.as_ptr().cast()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // INVARIANT: The caller passes a pointer from `into_foreign`, whose
        // reference it gives back to us.
        Self {
            // SAFETY: `into_foreign` never returns null.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast()) },
            _p: PhantomData,
        }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> ArenaArcBorrow<'a, T> {
        // INVARIANT: The caller guarantees the foreign reference outlives `'a`.
        ArenaArcBorrow {
            // SAFETY: `into_foreign` never returns null.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast()) },
            _p: PhantomData,
        }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> ArenaArcBorrow<'a, T> {
        // SAFETY: Same requirements as `borrow`.
        unsafe { Self::borrow(ptr) }
    }
}
