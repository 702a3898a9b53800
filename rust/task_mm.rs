// SPDX-License-Identifier: GPL-2.0

//! Another process's address space by pid (`get_task_mm`), as
//! `/proc/PID/pagemap` starts from it: for `PAGEARENA_IOC_PAGE_STATE_AT`,
//! which finds the space an address of that process maps.

use core::ptr::NonNull;
use kernel::{bindings, mm::MmWithUser, prelude::*, sync::aref::ARef, task::Task};

/// The address space of process `pid` (in the caller's pid namespace),
/// with `mm_users` raised: `ESRCH` if there is no such process, or it has
/// no address space (a kernel thread, or one that has exited).
pub fn mm_of_pid(pid: i32) -> Result<ARef<MmWithUser>> {
    // SAFETY: `find_get_pid` has no preconditions; it returns a counted
    // `struct pid` or null.
    let p = unsafe { bindings::find_get_pid(pid) };
    if p.is_null() {
        return Err(ESRCH);
    }
    // SAFETY: `p` is a counted pid (just above); `get_pid_task` takes a
    // reference of its own on the task, if there is one.
    let t = unsafe { bindings::get_pid_task(p, bindings::pid_type_PIDTYPE_PID) };
    // SAFETY: Drops the count `find_get_pid` took; `p` is not used after.
    unsafe { bindings::put_pid(p) };
    let t = NonNull::new(t).ok_or(ESRCH)?;
    // SAFETY: `get_pid_task` returned the task with a reference, which the
    // `ARef` takes over (and drops with `put_task_struct`).
    let task: ARef<Task> = unsafe { ARef::from_raw(t.cast()) };
    // SAFETY: `task` is valid while we hold our reference; `get_task_mm`
    // takes `task_lock` and returns its mm with `mm_users` raised, or null.
    let mm = unsafe { bindings::get_task_mm(task.as_ptr()) };
    let mm = NonNull::new(mm).ok_or(ESRCH)?;
    // SAFETY: `get_task_mm` raised `mm_users` for us (`mmget`): the
    // `ARef<MmWithUser>` takes that count over, and its `mm_users` is not
    // zero while it does (the type's invariant); it drops it with `mmput`.
    // `MmWithUser` is `repr(transparent)` over the `mm_struct`.
    Ok(unsafe { ARef::from_raw(mm.cast()) })
}
