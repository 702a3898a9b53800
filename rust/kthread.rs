// SPDX-License-Identifier: GPL-2.0

//! A kernel thread (`include/linux/kthread.h`): a small safe abstraction,
//! which Rust-for-Linux 7.3 lacks.
//!
//! [`KThread::run`] starts a thread that calls a `fn()` over and over until
//! [`KThread`] is dropped, which stops it (`kthread_stop`) and waits for it.
//! The function must return from time to time (when it has nothing to do
//! it sleeps, on a wait queue its owner wakes before the drop): the thread
//! never exits on its own, so the task `kthread_stop` is given is alive.

use core::{
    ffi::{c_int, c_void},
    ptr::NonNull,
};
use kernel::{bindings, error::from_err_ptr, prelude::*, str::CStr};

/// A running kernel thread; dropping it stops it.
///
/// # Invariants
///
/// `task` is a kernel thread made by `kthread_create_on_node` and woken,
/// running [`trampoline`], which only returns once `kthread_should_stop()`:
/// so it is alive until `kthread_stop` is called, once, by `drop`.
pub struct KThread {
    task: NonNull<bindings::task_struct>,
}

// SAFETY: The task pointer is only passed to `kthread_stop`, which may be
// called from any thread.
unsafe impl Send for KThread {}
// SAFETY: `&KThread` allows nothing.
unsafe impl Sync for KThread {}

/// The thread function: calls the `fn()` in `data` until asked to stop.
///
/// # Safety
///
/// Called by the kthread machinery only, with the `data` [`KThread::run`]
/// gave it: a `fn()`.
unsafe extern "C" fn trampoline(data: *mut c_void) -> c_int {
    // SAFETY: `run` passes a `fn()` cast to a pointer; fn pointers and data
    // pointers have the same size on every architecture the kernel builds
    // Rust for.
    let f: fn() = unsafe { core::mem::transmute::<*mut c_void, fn()>(data) };
    // SAFETY: Called from the kthread itself.
    while !unsafe { bindings::kthread_should_stop() } {
        f();
    }
    0
}

impl KThread {
    /// Starts a kernel thread named `name` calling `f` repeatedly.
    pub fn run(name: &'static CStr, f: fn()) -> Result<Self> {
        // SAFETY: `trampoline` has the signature `kthread_create_on_node`
        // wants; `data` is a `fn()`, valid forever; `name` is a NUL-terminated
        // string with no `%`, used as the format (with no arguments).
        let task = from_err_ptr(unsafe {
            bindings::kthread_create_on_node(
                Some(trampoline),
                f as *mut c_void,
                bindings::NUMA_NO_NODE,
                name.as_char_ptr(),
            )
        })?;
        let task = NonNull::new(task).ok_or(ENOMEM)?;
        // SAFETY: A new kthread waits to be woken once before it runs.
        unsafe { bindings::wake_up_process(task.as_ptr()) };
        // INVARIANT: made and woken; runs `trampoline`.
        Ok(Self { task })
    }
}

impl Drop for KThread {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the thread is alive (it exits only
        // when asked, here), and this is the one call. `kthread_stop` wakes
        // it, waits for `trampoline` to return, and reaps it.
        unsafe { bindings::kthread_stop(self.task.as_ptr()) };
    }
}
