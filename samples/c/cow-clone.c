// SPDX-License-Identifier: GPL-2.0
/*
 * cow-clone, in C: a PAGEARENA_IOC_CLONE snapshot shares every frame until
 * one side writes; the write copies that page only, and the other side still
 * reads its own data. Uses <linux/pagearena.h> (tools/include/uapi).
 *
 *   cc -I tools/include/uapi samples/c/cow-clone.c -o cow-clone-c
 *
 * Exits 0 if the arena behaved so, 1 (with the reason) if not, 2 if the
 * device cannot be used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/pagearena.h>

#define PAGES 8

static int fail(const char *what)
{
	fprintf(stderr, "cow-clone-c: %s\n", what);
	return 1;
}

/* The page-state entries of pages 0 .. PAGES of fd's space. */
static int page_state(int fd, __u64 *out)
{
	struct pagearena_page_state_args a = {
		.start = 0, .count = PAGES, .buf = (__u64)(uintptr_t)out,
	};

	return ioctl(fd, PAGEARENA_IOC_PAGE_STATE, &a);
}

static void show(const char *name, const __u64 *e)
{
	printf("  %-6s [", name);
	for (int i = 0; i < PAGES; i++) {
		switch (PAGEARENA_PS_KIND(e[i])) {
		case PAGEARENA_PS_FRAME:
			putchar(PAGEARENA_PS_SHARE_COUNT(e[i]) > 1 ? 'S' : 'F');
			break;
		case PAGEARENA_PS_ZERO: putchar('z'); break;
		case PAGEARENA_PS_SWAP: putchar('w'); break;
		default: putchar('.');
		}
	}
	printf("]\n");
}

int main(void)
{
	struct pagearena_info info;
	struct pagearena_stats before, after;
	__u64 orig[PAGES], copy[PAGES];
	int fd = open(PAGEARENA_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, PAGEARENA_IOC_INFO, &info) < 0) {
		fprintf(stderr, "cow-clone-c: %s: %s (is the module loaded?)\n",
			PAGEARENA_DEVICE, strerror(errno));
		return 2;
	}
	if (info.version != PAGEARENA_UAPI_VERSION) {
		fprintf(stderr, "cow-clone-c: module speaks uapi %u, this header %d\n",
			info.version, PAGEARENA_UAPI_VERSION);
		return 2;
	}
	size_t len = (size_t)PAGES * info.page_size;
	char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED)
		return fail("mmap of the space failed");
	for (int i = 0; i < PAGES; i++)
		memset(a + (size_t)i * info.page_size, 'A' + i, info.page_size);

	printf("wrote %d pages; clone the space (PAGEARENA_IOC_CLONE)\n", PAGES);
	int cfd = ioctl(fd, PAGEARENA_IOC_CLONE);
	if (cfd < 0)
		return fail("PAGEARENA_IOC_CLONE failed");
	char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
	if (b == MAP_FAILED)
		return fail("mmap of the clone failed");
	if (page_state(fd, orig) || page_state(cfd, copy))
		return fail("PAGEARENA_IOC_PAGE_STATE failed");
	show("orig", orig);
	show("clone", copy);
	for (int i = 0; i < PAGES; i++)
		if (PAGEARENA_PS_KIND(orig[i]) != PAGEARENA_PS_FRAME ||
		    PAGEARENA_PS_PAYLOAD(orig[i]) != PAGEARENA_PS_PAYLOAD(copy[i]) ||
		    PAGEARENA_PS_SHARE_COUNT(orig[i]) != 2)
			return fail("a clone does not share every frame");

	printf("write page 3 of the clone: one copy, the original keeps its data\n");
	if (ioctl(fd, PAGEARENA_IOC_STATS, &before) < 0)
		return fail("PAGEARENA_IOC_STATS failed");
	memset(b + 3 * (size_t)info.page_size, 'z', info.page_size);
	if (ioctl(fd, PAGEARENA_IOC_STATS, &after) < 0)
		return fail("PAGEARENA_IOC_STATS failed");
	if (page_state(fd, orig) || page_state(cfd, copy))
		return fail("PAGEARENA_IOC_PAGE_STATE failed");
	show("orig", orig);
	show("clone", copy);
	printf("  cow faults: %llu\n",
	       (unsigned long long)(after.cow_fault - before.cow_fault));
	if (after.cow_fault - before.cow_fault != 1)
		return fail("the write did not take exactly one COW fault");
	for (int i = 0; i < PAGES; i++) {
		int shared = PAGEARENA_PS_PAYLOAD(orig[i]) == PAGEARENA_PS_PAYLOAD(copy[i]);
		if (shared != (i != 3))
			return fail("the write copied the wrong pages");
		if (a[(size_t)i * info.page_size] != 'A' + i)
			return fail("the original lost its data");
		if (b[(size_t)i * info.page_size] != (i == 3 ? 'z' : 'A' + i))
			return fail("the clone reads the wrong data");
	}
	printf("ok: the clone shared all %d frames, and its write copied one page\n", PAGES);
	return 0;
}
