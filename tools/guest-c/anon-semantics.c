// SPDX-License-Identifier: GPL-2.0
/*
 * anon-semantics: what a program may expect of private anonymous memory and
 * of malloc, checked with plain mmap/malloc calls. Prints one line per
 * check, the same natively and under `pagearena run` (the guest suite
 * compares the two); exits non-zero if a check failed. Prints no address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
static int failed;

static void check(const char *name, int ok, const char *detail)
{
	printf("%s: %s%s%s\n", name, ok ? "ok" : "FAIL", ok ? "" : " ", ok ? "" : detail);
	if (!ok)
		failed = 1;
}

static void *anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void fill(void *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i += 64)
		((uint64_t *)p)[i] = seed * 1000003 + i;
}

static int same(const void *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i += 64)
		if (((const uint64_t *)p)[i] != seed * 1000003 + i)
			return 0;
	return 1;
}

/* Bytes from..to of a mapping at p filled by fill(p, ..., seed). */
static int same_part(const void *p, size_t from, size_t to, uint64_t seed)
{
	for (size_t i = (from / 8 + 63) / 64 * 64; i < to / 8; i += 64)
		if (((const uint64_t *)p)[i] != seed * 1000003 + i)
			return 0;
	return 1;
}

static int zero(const void *p, size_t len)
{
	for (size_t i = 0; i < len; i += 512)
		if (((const uint64_t *)p)[i / 8])
			return 0;
	return 1;
}

static sigjmp_buf jb;
static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

/* 1 if writing *p faults. */
static int write_faults(volatile uint64_t *p)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	int r = 0;

	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(jb, 1) == 0)
		*p = 1;
	else
		r = 1;
	sigaction(SIGSEGV, &old, NULL);
	return r;
}

static int read_faults(volatile uint64_t *p)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	int r = 0;

	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(jb, 1) == 0)
		(void)*p;
	else
		r = 1;
	sigaction(SIGSEGV, &old, NULL);
	return r;
}

static void *worker(void *arg)
{
	uint64_t seed = (uintptr_t)arg;
	int ok = 1;

	for (int round = 0; round < 200; round++) {
		size_t n = 16 + (seed * 7 + round * 13) % 5000;
		unsigned char *b = malloc(n);
		memset(b, (int)(seed + round), n);
		b = realloc(b, n * 2);
		for (size_t i = 0; i < n; i++)
			if (b[i] != (unsigned char)(seed + round))
				ok = 0;
		free(b);
	}
	return (void *)(uintptr_t)ok;
}

int main(void)
{
	size_t len = 64 * PG;
	char *p;

	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Zero on first touch, data kept. */
	p = anon(len);
	check("first touch reads zero", zero(p, len), "");
	fill(p, len, 1);
	check("written data reads back", same(p, len, 1), "");

	/* fork: a copy-on-write snapshot both ways. */
	{
		int st;
		pid_t pid = fork();
		if (pid == 0) {
			int ok = same(p, len, 1);
			fill(p, len, 2);
			_exit(ok && same(p, len, 2) ? 0 : 1);
		}
		waitpid(pid, &st, 0);
		check("fork child sees the parent's data and writes its own copy",
		      WIFEXITED(st) && WEXITSTATUS(st) == 0, "child");
		check("fork child's writes leave the parent's data", same(p, len, 1), "");
		pid = fork();
		if (pid == 0) {
			usleep(100000);
			_exit(same(p, len, 1) ? 0 : 1);
		}
		fill(p, len, 3);
		waitpid(pid, &st, 0);
		check("parent's writes after fork leave the child's data",
		      WIFEXITED(st) && WEXITSTATUS(st) == 0, "child");
	}

	/* munmap of a middle part; a new mapping there reads zero. */
	{
		fill(p, len, 4);
		munmap(p + 16 * PG, 16 * PG);
		check("munmap of the middle keeps both ends",
		      same(p, 16 * PG, 4) && read_faults((uint64_t *)(p + 20 * PG)),
		      "");
		char *q = mmap(p + 16 * PG, 16 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		check("a new mapping in the hole reads zero", q == p + 16 * PG && zero(q, 16 * PG), "");
	}

	/* MAP_FIXED over live memory replaces it with zeroes. */
	{
		fill(p, len, 5);
		char *q = mmap(p, 8 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		check("MAP_FIXED over data reads zero", q == p && zero(q, 8 * PG), "");
		q = mmap(p, PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		check("MAP_FIXED_NOREPLACE over a mapping is EEXIST",
		      q == MAP_FAILED && errno == EEXIST, "");
	}

	/* mprotect. */
	{
		fill(p, len, 6);
		mprotect(p, 4 * PG, PROT_READ);
		int f = write_faults((uint64_t *)p);
		check("a write to PROT_READ memory faults and changes nothing", f && same(p, 4 * PG, 6), "");
		mprotect(p, 4 * PG, PROT_READ | PROT_WRITE);
		check("PROT_WRITE again: writable", !write_faults((uint64_t *)p), "");
		mprotect(p + 4 * PG, 4 * PG, PROT_NONE);
		check("PROT_NONE: reads fault", read_faults((uint64_t *)(p + 4 * PG)), "");
		mprotect(p + 4 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	}

	/* madvise: DONTNEED reads zero after; FREE zero or old, then writable. */
	{
		fill(p, len, 7);
		check("MADV_DONTNEED", madvise(p, 8 * PG, MADV_DONTNEED) == 0, "");
		check("after MADV_DONTNEED the range reads zero, the rest is kept",
		      zero(p, 8 * PG) && same_part(p, 8 * PG, 16 * PG, 7), "");
		fill(p, len, 8);
		check("MADV_FREE", madvise(p, 8 * PG, MADV_FREE) == 0, "");
		uint64_t v = *(uint64_t *)p;
		check("after MADV_FREE a page reads zero or its old data", v == 0 || v == 8 * 1000003, "");
		fill(p, 8 * PG, 9);
		check("after MADV_FREE a write sticks", same(p, 8 * PG, 9), "");
		check("MADV_WILLNEED", madvise(p, len, MADV_WILLNEED) == 0, "");
		check("MADV_POPULATE_WRITE", madvise(p + 8 * PG, 8 * PG, MADV_POPULATE_WRITE) == 0, "");
		check("MADV_POPULATE_WRITE keeps the data", same_part(p, 8 * PG, 16 * PG, 8), "");
	}

	/* mremap: shrink, grow, move. */
	{
		fill(p, len, 10);
		char *q = mremap(p, len, 32 * PG, 0);
		check("mremap shrink in place keeps the data", q == p && same(p, 32 * PG, 10), "");
		q = mremap(p, 32 * PG, 256 * PG, MREMAP_MAYMOVE);
		check("mremap grow keeps the data, the new part reads zero",
		      q != MAP_FAILED && same(q, 32 * PG, 10) && zero(q + 32 * PG, 224 * PG), "");
		fill(q, 256 * PG, 11);
		char *dst = anon(512 * PG);
		munmap(dst, 512 * PG);
		char *r = mremap(q, 256 * PG, 256 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		check("mremap to a fixed address moves the data",
		      r == dst && same(r, 256 * PG, 11) && read_faults((uint64_t *)q), "");
		r = mremap(r, 256 * PG, 512 * PG, MREMAP_MAYMOVE);
		check("mremap grow after a move", r != MAP_FAILED && same(r, 256 * PG, 11) &&
		      zero(r + 256 * PG, 256 * PG), "");
		p = r;
		len = 512 * PG;
	}

	/* MAP_NORESERVE, MAP_POPULATE. */
	{
		char *big = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		int ok = big != MAP_FAILED;
		for (size_t off = 0; ok && off < (1UL << 30); off += 64UL << 20)
			big[off] = 1;
		check("MAP_NORESERVE: a sparse 1 GiB mapping", ok && big[64UL << 20] == 1, "");
		munmap(big, 1UL << 30);
		char *pop = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		check("MAP_POPULATE reads zero", pop != MAP_FAILED && zero(pop, 16 * PG), "");
		munmap(pop, 16 * PG);
	}

	/* MAP_SHARED | MAP_ANONYMOUS: the kernel's, shared with a child. */
	{
		volatile uint64_t *s = mmap(NULL, PG, PROT_READ | PROT_WRITE,
					    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		int st;
		pid_t pid = fork();
		if (pid == 0) {
			*s = 42;
			_exit(0);
		}
		waitpid(pid, &st, 0);
		check("MAP_SHARED|MAP_ANONYMOUS is shared with a fork child", *s == 42, "");
	}

	/* /proc/self/mem reaches the memory (debuggers do this). */
	{
		int fd = open("/proc/self/mem", O_RDWR);
		uint64_t v = 0x1234, back = 0;
		p[0] = 0;
		int ok = fd >= 0 && pwrite(fd, &v, 8, (off_t)(uintptr_t)p) == 8 &&
			 pread(fd, &back, 8, (off_t)(uintptr_t)(p + 8)) == 8;
		check("/proc/self/mem writes and reads it", ok && *(uint64_t *)p == 0x1234, "");
		close(fd);
	}

	/* malloc and friends. */
	{
		char *a = malloc(100);
		memset(a, 'a', 100);
		a = realloc(a, 1 << 20);
		int ok = 1;
		for (int i = 0; i < 100; i++)
			ok &= a[i] == 'a';
		check("realloc keeps the data", ok, "");
		check("malloc_usable_size >= the size", malloc_usable_size(a) >= (1 << 20), "");
		free(a);
		unsigned char *c = calloc(1000, 1000);
		ok = 1;
		for (int i = 0; i < 1000000; i += 4096)
			ok &= c[i] == 0;
		check("calloc reads zero", ok, "");
		free(c);
		void *al = NULL;
		check("posix_memalign 4096",
		      posix_memalign(&al, 4096, 5000) == 0 && ((uintptr_t)al & 4095) == 0, "");
		free(al);
		check("posix_memalign 3 is EINVAL", posix_memalign(&al, 3, 10) == EINVAL, "");
		al = aligned_alloc(64, 640);
		check("aligned_alloc 64", al && ((uintptr_t)al & 63) == 0, "");
		free(al);
		al = memalign(256, 100);
		check("memalign 256", al && ((uintptr_t)al & 255) == 0, "");
		free(al);
		char *big = malloc(24 << 20);
		memset(big, 7, 24 << 20);
		big = realloc(big, 48 << 20);
		check("a 24 MiB block grows to 48 MiB with its data",
		      big && big[0] == 7 && big[(24 << 20) - 1] == 7, "");
		free(big);
		check("realloc(p, 0) frees", realloc(malloc(10), 0) == NULL, "");
	}

	/* Threads allocating at once. */
	{
		pthread_t t[4];
		int ok = 1;
		for (uintptr_t i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, worker, (void *)i);
		for (int i = 0; i < 4; i++) {
			void *r;
			pthread_join(t[i], &r);
			ok &= r != NULL;
		}
		check("four threads malloc, realloc and free at once", ok, "");
	}

	/* A fork child allocates, and grows a block it inherited. */
	{
		char *blk = malloc(3 << 20);
		memset(blk, 'p', 3 << 20);
		int st;
		pid_t pid = fork();
		if (pid == 0) {
			char *mine = malloc(1 << 20);
			memset(mine, 'c', 1 << 20);
			char *g = realloc(blk, 12 << 20);
			int ok = g && g[0] == 'p' && g[(3 << 20) - 1] == 'p' && mine[0] == 'c';
			memset(g, 'x', 12 << 20);
			free(g);
			free(mine);
			_exit(ok ? 0 : 1);
		}
		waitpid(pid, &st, 0);
		check("a fork child's malloc and realloc of an inherited block",
		      WIFEXITED(st) && WEXITSTATUS(st) == 0 && blk[0] == 'p', "");
		free(blk);
	}

	munmap(p, len);
	printf("%s\n", failed ? "some checks failed" : "all checks passed");
	return failed;
}
