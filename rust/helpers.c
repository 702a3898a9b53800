// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for pagearena: what is static inline in C, and so missing from
 * kernel::bindings. Declared in Rust in the file that uses each.
 */
#include <linux/mm.h>
#include <linux/bio.h>
#include <linux/blkdev.h>

void *pagearena_page_address(const struct page *page);

/* The direct-map address of @page (rust/frames.rs). */
void *pagearena_page_address(const struct page *page)
{
	return page_address(page);
}

unsigned long pagearena_virt_to_pfn(const void *addr);

/* The page frame number of a direct-map address (rust/frames.rs). */
unsigned long pagearena_virt_to_pfn(const void *addr)
{
	return PHYS_PFN(__pa(addr));
}

void pagearena_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags);

/* vm_flags_set() on a VMA being set up by vm_ops->open (rust/vm_ops.rs). */
void pagearena_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

/*
 * swap_path: the backing store of swap (rust/swapfile.rs). A C parameter:
 * Rust-for-Linux 7.3's module! has no string parameters.
 */
#include <linux/moduleparam.h>
static char *swap_path;
module_param(swap_path, charp, 0444);
MODULE_PARM_DESC(swap_path, "Swap backing store: a block device or a regular file (empty: no swap)");

const char *pagearena_swap_path(void);

const char *pagearena_swap_path(void)
{
	return swap_path;
}

long long pagearena_file_size(struct file *file, unsigned int *mode,
			       unsigned long *magic);

/*
 * The size of what @file reads and writes, the mode of its inode and the
 * magic of its file system (rust/swapfile.rs): for a block device the
 * device's size, from the bdev inode behind f_mapping (the /dev node's own
 * inode has no size).
 */
long long pagearena_file_size(struct file *file, unsigned int *mode,
			       unsigned long *magic)
{
	*mode = file_inode(file)->i_mode;
	*magic = file_inode(file)->i_sb->s_magic;
	return i_size_read(file->f_mapping->host);
}

int pagearena_bdev_rw(struct file *file, void *addr, u64 pos, bool write);

/*
 * One page of the swap device at byte @pos to or from the direct-map page
 * @addr, by a synchronous bio (rust/swapfile.rs), as swap does it
 * (swap_writepage_bdev_sync): no page cache, and so none of the block
 * device inode's locks, which a fault must not take (a read() of the
 * device into arena memory holds them while it faults).
 */
int pagearena_bdev_rw(struct file *file, void *addr, u64 pos, bool write)
{
	struct bio_vec bv;
	struct bio bio;
	int ret;

	bio_init(&bio, file_bdev(file), &bv, 1,
		 write ? REQ_OP_WRITE | REQ_SYNC : REQ_OP_READ);
	bio.bi_iter.bi_sector = pos >> SECTOR_SHIFT;
	__bio_add_page(&bio, virt_to_page(addr), PAGE_SIZE, offset_in_page(addr));
	ret = submit_bio_wait(&bio);
	bio_uninit(&bio);
	return ret;
}

/*
 * reclaim_policy: the replacement policy, "lru" (default) or "clock"
 * (rust/pagearena_main.rs). A C parameter, as swap_path.
 */
static char *reclaim_policy;
module_param(reclaim_policy, charp, 0444);
MODULE_PARM_DESC(reclaim_policy, "Replacement policy: lru (active/inactive lists, the default) or clock");

const char *pagearena_reclaim_policy(void);

const char *pagearena_reclaim_policy(void)
{
	return reclaim_policy;
}

void pagearena_cond_resched(void);

/* cond_resched() between reclaim batches (rust/vmscan.rs). */
void pagearena_cond_resched(void)
{
	cond_resched();
}

bool pagearena_fatal_signal_pending(void);

/* Whether the current task is being killed (rust/vmscan.rs). */
bool pagearena_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

/*
 * A run of PTEs to make in one go (rust/vm_ops.rs, PteBatch): page i of the
 * run at @start maps pfns[i] >> 1, writable if bit 0 is set; 0 leaves it.
 */
struct pagearena_pte_batch {
	struct vm_area_struct *vma;
	unsigned long start;
	const unsigned long *pfns;
};

int pagearena_insert_pfns(struct vm_area_struct *vma, unsigned long start,
			  unsigned long nr, const unsigned long *pfns);

static int pagearena_set_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct pagearena_pte_batch *b = data;
	struct vm_area_struct *vma = b->vma;
	unsigned long v = b->pfns[(addr - b->start) >> PAGE_SHIFT];
	pgprot_t prot;

	/* As insert_pfn(): a PTE already there stays. */
	if (!v || !pte_none(ptep_get(pte)))
		return 0;
	prot = (v & 1) ? vm_get_page_prot(vma->vm_flags) : vma->vm_page_prot;
	set_pte_at(vma->vm_mm, addr, pte, pte_mkspecial(pfn_pte(v >> 1, prot)));
	update_mmu_cache(vma, addr, pte);
	return 0;
}

/*
 * Makes the special PTEs of a batch in @vma, a shared VM_PFNMAP VMA whose
 * fault is in progress, under one page-table lock per page-table page, as
 * i915's remap_io_sg() does for its faults: what vmf_insert_pfn_prot() does
 * page by page (get_locked_pte(), insert_pfn()), without its memtype lookup
 * (pfnmap_setup_cachemode_pfn(), which on x86 with PAT takes the global
 * resource_lock and walks the iomem tree for each page). Every pfn is
 * ordinary RAM the module allocated and never gave a memtype, so that
 * lookup would return WB, the cache mode the protections already hold.
 * 0, -ENOMEM if a page table could not be allocated (some PTEs may be
 * made), or -EINVAL if the walk met a huge or bad entry.
 */
int pagearena_insert_pfns(struct vm_area_struct *vma, unsigned long start,
			  unsigned long nr, const unsigned long *pfns)
{
	struct pagearena_pte_batch b = { vma, start, pfns };

	return apply_to_page_range(vma->vm_mm, start, nr << PAGE_SHIFT,
				   pagearena_set_pte, &b);
}

/*
 * Space files (rust/pseudo_fs.rs): files of the module's own pseudo file
 * system, one inode each, typed as regular files as memfd, secretmem and
 * guest_memfd files are, so that fallocate(2) and madvise(MADV_REMOVE)
 * reach the module (vfs_fallocate() refuses a character device with
 * ENODEV). Each inode's address_space holds the VMAs of its file alone:
 * the reverse map of the file's spaces.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/file.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>

#define PAGEARENA_FS_MAGIC 0x70617265 /* "pare" */

static struct vfsmount *pagearena_mnt;

/* No truncate, no chmod: a space file has no size to change (as guest_memfd). */
static int pagearena_setattr(struct mnt_idmap *idmap, struct dentry *dentry,
			     struct iattr *attr)
{
	return -EINVAL;
}

static const struct inode_operations pagearena_iops = {
	.setattr = pagearena_setattr,
};

static int pagearena_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, PAGEARENA_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type pagearena_fs_type = {
	.name = "pagearena",
	.init_fs_context = pagearena_init_fs_context,
	.kill_sb = kill_anon_super,
};

int pagearena_fs_mount(void);
void pagearena_fs_unmount(void);
struct file *pagearena_file_create(const struct file_operations *fops,
				   unsigned int flags);

/* Mounts the pseudo file system (internally, as secretmem does): at load. */
int pagearena_fs_mount(void)
{
	struct vfsmount *mnt = kern_mount(&pagearena_fs_type);

	if (IS_ERR(mnt))
		return PTR_ERR(mnt);
	pagearena_mnt = mnt;
	return 0;
}

/*
 * At unload: every space file is gone by then, since each holds a
 * reference on the module (fops_get() below, fops_put() in __fput()).
 */
void pagearena_fs_unmount(void)
{
	if (pagearena_mnt)
		kern_unmount(pagearena_mnt);
	pagearena_mnt = NULL;
}

/*
 * A new file with @fops on a new inode, open for @flags' access mode, its
 * private_data NULL; an error pointer on failure. The file holds a
 * reference on @fops' owner.
 */
struct file *pagearena_file_create(const struct file_operations *fops,
				   unsigned int flags)
{
	struct inode *inode;
	struct file *file;

	if (!fops_get(fops))
		return ERR_PTR(-ENOENT);
	inode = alloc_anon_inode(pagearena_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		fops_put(fops);
		return ERR_CAST(inode);
	}
	inode->i_op = &pagearena_iops;
	inode->i_mode |= S_IFREG;
	inode->i_size = 0;
	file = alloc_file_pseudo(inode, pagearena_mnt, "[pagearena]",
				 flags & O_ACCMODE, fops);
	if (IS_ERR(file)) {
		iput(inode);
		fops_put(fops);
		return file;
	}
	file->f_flags |= O_LARGEFILE;
	return file;
}
