// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for pagearena: what is static inline in C, and so missing from
 * kernel::bindings. Declared in Rust in the file that uses each.
 */
#include <linux/mm.h>

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
