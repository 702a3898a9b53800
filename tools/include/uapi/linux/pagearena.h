/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pagearena user-space API: the ioctls of /dev/pagearena, for C programs.
 *
 * The module's own definition is rust/uapi.rs; this header mirrors it, and
 * `cargo test -p pagearena-tools --test c_uapi` compiles it and checks every
 * size, field offset, ioctl number and constant against the Rust one.
 *
 * Every argument struct starts with a `version` field the kernel fills with
 * PAGEARENA_UAPI_VERSION. A command whose size field does not match its
 * struct is refused with EINVAL, an unknown command with ENOTTY, a bad
 * argument pointer with EFAULT.
 *
 * Include as <linux/pagearena.h> with -I tools/include/uapi.
 */
#ifndef _UAPI_LINUX_PAGEARENA_H
#define _UAPI_LINUX_PAGEARENA_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PAGEARENA_UAPI_VERSION 6
#define PAGEARENA_IOC_MAGIC 0xA7
#define PAGEARENA_DEVICE "/dev/pagearena"

/* Pages one space can map: offsets 0 .. PAGEARENA_SPACE_MAX_PAGES pages. */
#define PAGEARENA_SPACE_MAX_PAGES (1ULL << 28)
/* Most pages one PAGEARENA_IOC_PAGE_STATE or _PAGEOUT call covers. */
#define PAGEARENA_PAGE_STATE_MAX (1ULL << 20)

/* PAGEARENA_IOC_INFO: the arena's fixed parameters. */
struct pagearena_info {
	__u32 version;
	__u32 page_size;	/* bytes in one page and one arena frame */
	__u64 arena_frames;	/* frames in the arena */
};

/* PAGEARENA_IOC_STATS: the arena's frames and event counters (debugfs vmstat). */
struct pagearena_stats {
	__u32 version;
	__u32 reserved;
	__u64 nr_frames;
	__u64 nr_free;
	__u64 nr_spaces;
	__u64 nr_pt_nodes;
	__u64 nr_slab_frames;
	__u64 pgfault;
	__u64 zero_page_fault;
	__u64 demand_zero_fault;
	__u64 cow_fault;
	__u64 cow_reuse_fault;
	__u64 minor_fault;
	__u64 oom_fault;
	__u64 fault_around;
	__u64 space_clone;
	__u64 fork_snapshot;
	__u64 pgmajfault;
	__u64 pswpin;
	__u64 pswpout;
	__u64 swapcache_reclaim;
	__u64 zero_page_reclaim;
	__u64 swap_io_error;
	__u64 nr_swap_slots;
	__u64 nr_swap_used;
	__u64 pgscan;
	__u64 pgsteal_clean;
	__u64 pgsteal_dirty;
	__u64 pgdeactivate;
	__u64 pgactivate;
	__u64 allocstall;
	__u64 kswapd_wakeup;
	__u64 pgsoftfault;
	__u64 nr_active;
	__u64 nr_inactive;
	__u64 watermark_min;
	__u64 watermark_low;
	__u64 watermark_high;
	__u64 nr_swapcache;	/* data frames with a copy in swap (swap cache) */
};

/* PAGEARENA_IOC_SPACE_STATS: this fd's space. */
struct pagearena_space_stats {
	__u32 version;
	__u32 fork_mode;	/* PAGEARENA_FORK_SHARED or PAGEARENA_FORK_COW */
	__u64 id;		/* as in debugfs pagearena/spaces */
	__u64 resident;		/* pages in a frame */
	__u64 zero_mapped;	/* pages mapped to the zero frame */
	__u64 shared;		/* resident pages whose frame another space shares */
	__u64 pt_nodes;
	__u64 nr_vmas;		/* VMAs mapping the space, all processes */
	__u64 swapped;		/* pages in swap */
};

/*
 * PAGEARENA_IOC_PAGE_STATE: one __u64 per page of start .. start + count
 * into the user array at buf (like /proc/PID/pagemap); decode with the
 * PAGEARENA_PS_* macros below.
 */
struct pagearena_page_state_args {
	__u32 version;		/* in: 0 or PAGEARENA_UAPI_VERSION */
	__u32 reserved;		/* 0 */
	__u64 start;
	__u64 count;
	__u64 buf;		/* user address of count __u64 */
};

/*
 * PAGEARENA_IOC_PAGEOUT: take pages start .. start + count out of memory now
 * (like madvise(MADV_PAGEOUT)); the out fields say what happened.
 */
struct pagearena_pageout_args {
	__u32 version;		/* in: 0 or PAGEARENA_UAPI_VERSION */
	__u32 reserved;		/* 0 */
	__u64 start;
	__u64 count;
	__u64 swapped;		/* out: written to swap */
	__u64 clean;		/* out: clean swap-cache pages dropped, no write */
	__u64 zero;		/* out: zero-filled pages dropped, no slot */
	__u64 busy;		/* out: left: shared with another space, or raced */
};

/*
 * PAGEARENA_IOC_TRACE: the fault trace, one event per fault on any space
 * while on: (space id << 32) | page index. PAGEARENA_TRACE_START makes a ring
 * of count events and records; otherwise (0, or PAGEARENA_TRACE_STOP to stop
 * first) moves up to count of the oldest events to buf, count out = moved.
 */
struct pagearena_trace_args {
	__u32 version;		/* in: 0 or PAGEARENA_UAPI_VERSION */
	__u32 flags;		/* 0, PAGEARENA_TRACE_START or PAGEARENA_TRACE_STOP */
	__u64 buf;		/* user address of count __u64 (reads) */
	__u64 count;		/* in: ring size (start) or array size; out: moved */
	__u64 lost;		/* out: dropped since the last read (ring full) */
};

/*
 * PAGEARENA_IOC_PAGE_STATE_AT: page states (as PAGE_STATE) at user address
 * addr of process pid: the space whichever VMA there maps (a fork-COW
 * child's snapshot too), up to the end of that VMA. Needs CAP_SYS_PTRACE.
 */
struct pagearena_page_state_at_args {
	__u32 version;		/* in: 0 or PAGEARENA_UAPI_VERSION */
	__u32 pid;		/* in: the process */
	__u64 addr;		/* in: a user address in it */
	__u64 count;		/* in: pages wanted; out: pages reported */
	__u64 buf;		/* user address of count __u64 */
	__u64 space_id;		/* out: the space mapped there */
	__u64 start;		/* out: the page index of addr in it */
};

#define PAGEARENA_TRACE_START 1
#define PAGEARENA_TRACE_STOP 2
#define PAGEARENA_TRACE_MAX (1ULL << 22)
/* PAGEARENA_IOC_IDLE argument, by value: this fd's space, or every space. */
#define PAGEARENA_IDLE_SPACE 0
#define PAGEARENA_IDLE_ALL 1

#define PAGEARENA_IOC_INFO	 _IOR(PAGEARENA_IOC_MAGIC, 0x01, struct pagearena_info)
#define PAGEARENA_IOC_STATS	 _IOR(PAGEARENA_IOC_MAGIC, 0x02, struct pagearena_stats)
#define PAGEARENA_IOC_SPACE_STATS _IOR(PAGEARENA_IOC_MAGIC, 0x03, struct pagearena_space_stats)
#define PAGEARENA_IOC_PAGE_STATE _IOWR(PAGEARENA_IOC_MAGIC, 0x04, struct pagearena_page_state_args)
/* Returns a new fd (close-on-exec): a copy-on-write snapshot of this space. */
#define PAGEARENA_IOC_CLONE	 _IO(PAGEARENA_IOC_MAGIC, 0x05)
/* Argument by value: PAGEARENA_FORK_SHARED or PAGEARENA_FORK_COW. */
#define PAGEARENA_IOC_SET_FORK_MODE _IO(PAGEARENA_IOC_MAGIC, 0x06)
#define PAGEARENA_IOC_PAGEOUT	 _IOWR(PAGEARENA_IOC_MAGIC, 0x07, struct pagearena_pageout_args)
#define PAGEARENA_IOC_TRACE	 _IOWR(PAGEARENA_IOC_MAGIC, 0x08, struct pagearena_trace_args)
#define PAGEARENA_IOC_PAGE_STATE_AT _IOWR(PAGEARENA_IOC_MAGIC, 0x0a, struct pagearena_page_state_at_args)
/* Zap the PTEs (frames stay): the next access to each page faults again. */
#define PAGEARENA_IOC_IDLE	 _IO(PAGEARENA_IOC_MAGIC, 0x09)
/*
 * Returns a new fd (close-on-exec) with a new, empty space; argument by
 * value: its fork mode. A regular file to the VFS, as a memfd: fallocate
 * (PUNCH_HOLE | KEEP_SIZE) and MADV_REMOVE discard a range. CLONE's fds too.
 */
#define PAGEARENA_IOC_NEW_SPACE	 _IO(PAGEARENA_IOC_MAGIC, 0x0b)

#define PAGEARENA_FORK_SHARED 0	/* a fork() child shares the space */
#define PAGEARENA_FORK_COW 1	/* a fork() child gets a COW snapshot */

/* One PAGEARENA_IOC_PAGE_STATE entry. */
#define PAGEARENA_PS_NONE 0	/* never touched: reads as zeroes */
#define PAGEARENA_PS_ZERO 1	/* mapped to the shared zero frame */
#define PAGEARENA_PS_FRAME 2	/* in a frame */
#define PAGEARENA_PS_SWAP 3	/* in a swap slot */
#define PAGEARENA_PS_WRITABLE (1ULL << 60)
#define PAGEARENA_PS_DIRTY (1ULL << 61)
/* The frame number (PAGEARENA_PS_FRAME) or swap slot (PAGEARENA_PS_SWAP). */
#define PAGEARENA_PS_PAYLOAD(e) ((e) & ((1ULL << 40) - 1))
/* How many page-table entries share the frame (saturates at 0xffff). */
#define PAGEARENA_PS_SHARE_COUNT(e) (((e) >> 40) & 0xffff)
#define PAGEARENA_PS_KIND(e) (((e) >> 56) & 0xf)

#endif /* _UAPI_LINUX_PAGEARENA_H */
