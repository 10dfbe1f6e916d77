//go:build ignore

/*
 * executor.c: faultline's host-kernel executor. It runs scenario statements
 * on the machine's real Linux kernel, driven over a Unix socket by the Go
 * package github.com/faultline/faultline/host. The wire protocol is
 * host/PROTOCOL.md; read that first. Usage: executor SOCK DIR.
 *
 * Build: cc -std=gnu11 -O1 -Wall -Wextra -Werror -pthread -o X executor.c
 * The first line, //go:build ignore, keeps the go tool from treating this
 * file as a cgo source of package host (which has no cgo: it go:embeds the
 * file and compiles it with Build); to C it is a comment.
 * (C11 + pthreads, libc and Linux headers only; it builds natively on x86_64
 * and statically with aarch64-linux-gnu-gcc, riscv64-linux-gnu-gcc,
 * powerpc64le-linux-gnu-gcc, s390x-linux-gnu-gcc -static, and clang
 * --target=loongarch64-linux-gnu.
 * The one arch-specific piece is ret_insn, the return instruction a `ret`
 * byte argument stores; everything else differs only by what the kernel does).
 *
 * Points PROTOCOL.md leaves open, and how this file resolves them:
 *
 *  1. uffd_open's FEATURES_GRANTED: UFFDIO_API writes back the kernel's whole
 *     supported mask, not what the context enabled. The reply is
 *     FEATURES & supported (plus WP_UNPOPULATED when WP_ASYNC was asked for,
 *     which the kernel implies): the features in force on that descriptor.
 *     probe_uffd reports the kernel's whole mask.
 *  2. A uffd handle name that is not open in this process: `err 9` (EBADF),
 *     as for a closed descriptor, for every uffd_* command, uffd_close too.
 *     uffd_open of a name already open: `proto`. At most 16 handles per
 *     process (`proto` beyond).
 *  3. SIGSEGV and SIGBUS always stay on the executor's handler. A fault the
 *     kernel raises (si_code > 0) during an access command becomes the
 *     `sig` reply. One sent by kill/tgkill (si_code <= 0) follows what
 *     `sigaction SIG catch|ignore|default` last said for that signal (an
 *     emulated disposition, per process, inherited by fork): catch counts it
 *     like any caught signal, ignore drops it, default (the initial state)
 *     resets the kernel disposition to SIG_DFL and re-sends it, so the
 *     process dies of it. A fault outside any access (an executor bug)
 *     takes the default action: the process dies of it.
 *  4. fork: the child closes every descriptor >= 3 it inherited (all of
 *     them are executor infrastructure: actor and waiter connections, and
 *     userfaultfds; mmap and kread/kwrite files are closed after each call),
 *     starts with an empty uffd table (a handle names a userfaultfd of the
 *     process that opened it; the kernel drops the registrations in the
 *     child without EVENT_FORK), zero caught-signal counters, and is the only
 *     actor of its process. 0, 1 and 2 stay. It keeps the alternate signal
 *     stack of the thread that forked (fork copies both the setting and the
 *     memory).
 *  5. `exit` has no reply; the Go side sees the connection close.
 *  6. userfaultfds are opened O_CLOEXEC | O_NONBLOCK, not O_NONBLOCK off:
 *     the kernel's userfaultfd_poll() returns EPOLLERR at once, always, for
 *     a descriptor without O_NONBLOCK ("poll() never guarantees that read
 *     won't block"), so `uffd_event U TIMEOUT_MS` could not poll with a
 *     timeout, and a blocking read() could block forever. O_NONBLOCK only
 *     changes read() and poll() of the descriptor (which only uffd_event
 *     uses), not how faults are raised, queued or resolved. uffd_event
 *     reads, and polls for the time left while the read says EAGAIN (so a
 *     message another thread took, or a fault woken before it was read,
 *     cannot block it): `err 110` (ETIMEDOUT) at the deadline; TIMEOUT_MS 0
 *     only tries once. A non-pagefault message is `ok EVENTTYPE` (decimal);
 *     the descriptor a UFFD_EVENT_FORK message carries stays open, unnamed.
 *  7. kread/kwrite files are named DIR/.kio-PID-N, created O_EXCL and removed
 *     after the call. Errors while preparing the file are `err E` too.
 *     The sizes of `file`, `truncate`, `kread`, `kwrite`, `touch` and the
 *     uffd fills (`uffd_copy`, `_zeropage`, `_continue`, `_poison`), which
 *     write, allocate or walk that much, are capped at 256 MiB (`proto`
 *     beyond), the scenario language's own limit, so bad input cannot
 *     exhaust the disk or memory, and the parser refuses what this would.
 *  8. probe_zero_page: a PFN the kernel hides (0: no CAP_SYS_ADMIN) is
 *     `err 1` (EPERM); a page not present after the read is `err 61`
 *     (ENODATA); a failing open/pread of pagemap is its errno.
 *  9. A waiter whose waitpid fails (SIGCHLD set to ignore: the kernel reaps
 *     the child itself, ECHILD) closes its connection without `exited`.
 * 10. Parsing is lenient where that cannot be ambiguous: runs of spaces or
 *     tabs separate words, a trailing \r is dropped. Numbers are decimal
 *     (never octal) or 0x/0X hex, unsigned, no sign; a value that does not
 *     fit its parameter (32 bits for PROT, FLAGS, ADVICE; int for PID,
 *     TID; 1..64 for SIG, 0 too for kill; a byte for VALUE and FILL; 0 or 1
 *     for ON) is `proto`. `touch` also accepts `read`/`write` for `r`/`w`. Names (files,
 *     actors, uffd handles) are 1..64 printable characters; file names must
 *     not contain '/' nor be "." or ".."; actor names must not start with
 *     '@' (the protocol's @waiter). Lines are at most 1023 bytes.
 * 11. kill is exactly tgkill(PID, TID, SIG), so TID 0 is `err 22`.
 * 12. The executor resets every signal disposition to SIG_DFL and unblocks
 *     every signal at start, so the inherited state of the Go side (ignored
 *     SIGPIPE/SIGHUP, a mask) does not leak into scenarios.
 * 13. The executor's own memory (every mapping the process had before its
 *     first scenario mmap: program, libraries, the loader's data, [vdso],
 *     counters; [heap] and [stack] as they grow; the OWN_BASE range) is
 *     not the scenario's: munmap, mprotect and madvise of a range reaching it act
 *     as if it were a hole, as the model has it. munmap unmaps the rest of
 *     the range (after the kernel's own checks of the whole: EINVAL past
 *     TASK_SIZE); mprotect changes the part before the first own byte, then
 *     answers ENOMEM (do_mprotect_pkey stops at a hole); madvise advises
 *     the other parts and answers ENOMEM (MADV_POPULATE_* stop at the
 *     hole). A range the kernel refuses before touching anything (unaligned,
 *     wrapping, empty) goes to the kernel as it is. uffd_register and uffd_wp
 *     of such a range are `err 22` (EINVAL): the executor's program and
 *     libraries are file mappings that no userfaultfd mode registers, so
 *     the kernel, too, refuses a range that covers them. Threads allocate
 *     from the main heap (M_ARENA_MAX 1), so no malloc arena lands among the
 *     scenario's mappings unnoticed. (A scenario that maps with at= into a
 *     hole between the executor's own mappings sees that part as a hole.)
 * 14. rlimit_stack first extends the process's main stack, when the actor
 *     runs on it, 1 MiB below the command's frame (STACK_RESERVE), while
 *     the old limit allows it. The statement means RLIMIT_STACK as the
 *     kernel applies it to the scenario's memory: the growth of its
 *     growsdown mappings (acct_stack_growth) — not to the executor, whose
 *     calls, deeper in a fork child than its parent's ever went, would
 *     otherwise need a stack that cannot grow (SIGSEGV under `rlimit stack
 *     0`, then `fork`). The executor never goes deeper than that reserve;
 *     its threads run on stacks of their own (OWN_BASE) that never grow.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/userfaultfd.h>

/* Definitions newer than some installed kernel headers. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
struct fl_uffdio_poison { /* struct uffdio_poison, Linux 6.6 */
	struct uffdio_range range;
	uint64_t mode;
	int64_t updated;
};
#define FL_UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct fl_uffdio_poison)
#ifndef __NR_userfaultfd
#define __NR_userfaultfd 323
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif
#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif

/*
 * PAGE is the kernel's base page size, read at start (sysconf): 4 KiB on
 * x86_64 and riscv64, but 64 KiB in Debian's ppc64el 6.1 kernel, 16 KiB
 * in its loong64 kernel, and any of 4, 16, 64 KiB on arm64. Every range
 * rule the executor mirrors (page_range, a ret's first page, the pagemap
 * index) is in base pages. `touch` alone steps by TOUCH_STEP, 4 KiB, the
 * scenario language's unit: one access per 4 KiB reaches every page of
 * any base size, and its first fault is at the first byte of the page, as
 * the model reports it, whatever the alignment of ADDR.
 */
static uint64_t g_page = 4096;
#define PAGE g_page
#define TOUCH_STEP 4096ULL

/*
 * ret_insn is the architecture's shortest return instruction as it lies in
 * memory (in the arch's byte order: s390x is big-endian), which a byte
 * argument written `ret` stores whole, so that `exec` of it returns on the
 * real CPU. The model keeps only its first byte (kernel.Arch RetByte:
 * 0xc3, 0xc0, 0x82, 0x20, 0x07, 0x20). host.RetInsn is the
 * same table on the Go side; host/build_test.go checks the two agree.
 */
#if defined(__x86_64__)
const unsigned char ret_insn[] = {0xc3}; /* ret */
#elif defined(__aarch64__)
const unsigned char ret_insn[] = {0xc0, 0x03, 0x5f, 0xd6}; /* ret (x30): 0xd65f03c0 */
#elif defined(__riscv) && __riscv_xlen == 64
const unsigned char ret_insn[] = {0x82, 0x80}; /* c.ret (c.jr ra): 0x8082 */
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
const unsigned char ret_insn[] = {0x20, 0x00, 0x80, 0x4e}; /* blr: 0x4e800020 */
#elif defined(__s390x__)
const unsigned char ret_insn[] = {0x07, 0xfe}; /* br %r14: 0x07fe, big-endian */
#elif defined(__loongarch64)
const unsigned char ret_insn[] = {0x20, 0x00, 0x00, 0x4c}; /* jirl $zero, $ra, 0: 0x4c000020 */
#else
#error "executor.c: no return instruction known for this architecture"
#endif

/* FILL_RET is the value of a byte argument written `ret` (arg_byte). */
#define FILL_RET 256

/*
 * fill_bytes fills n bytes at buf, which start at offset off of a run of
 * fill: FILL_RET repeats ret_insn from offset 0, so every instruction-
 * aligned offset of a page or file holds a whole return instruction.
 */
static void fill_bytes(unsigned char *buf, size_t n, uint64_t off, int fill)
{
	if (fill != FILL_RET) {
		memset(buf, fill, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		buf[i] = ret_insn[(off + i) % sizeof ret_insn];
}

/*
 * sync_icache makes bytes the CPU stored at [addr, addr+len) visible to
 * instruction fetch: arm64 and riscv64 have no coherent instruction cache
 * for user stores (x86 needs nothing; the builtin is empty there).
 */
static void sync_icache(uint64_t addr, uint64_t len)
{
	__builtin___clear_cache((char *)(uintptr_t)addr, (char *)(uintptr_t)(addr + len));
}
#define ALTSTACK_SIZE (64 * 1024)
#define LINE_CAP 1024
#define NAME_CAP 64
#define MAX_WORDS 10
#define MAX_UFFD 16
#define CONNECT_TRIES 300 /* x 10 ms, x g_scale */
/* g_scale multiplies the executor's one bound of its own, CONNECT_TRIES:
   the driver's timeout scale, passed as FAULTLINE_TIMEOUT_SCALE (a 10-50x
   slower CPU under software emulation needs longer). */
static double g_scale = 1;
#define SIZE_CAP (256ULL << 20) /* = the language's MaxFill */

/* ---- process-wide state ---- */

static const char *g_sock;
static const char *g_dir;
static atomic_int g_actors;    /* actor threads alive in this process */
static atomic_ulong g_seq;     /* kread/kwrite file names */

static pthread_mutex_t g_uffd_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[NAME_CAP + 1];
	int fd;
} g_uffd[MAX_UFFD];

/* Emulated disposition of SIGSEGV/SIGBUS for signals sent with kill. */
enum { DISP_DEFAULT, DISP_CATCH, DISP_IGNORE };
static volatile sig_atomic_t g_disp_segv, g_disp_bus;

/* ---- per-thread state ---- */

static __thread int t_conn = -1;
static __thread sigjmp_buf t_jb;
static __thread volatile sig_atomic_t t_in_access;
static __thread volatile int t_signo, t_code, t_lsb;
static __thread volatile uint64_t t_addr;
/*
 * Handler-run counters, by actor slot and signal, in one MAP_SHARED page
 * mapped before any fork: any actor of any process of the run can read any
 * actor's counts, also while that actor is blocked in a command.
 */
#define MAX_SLOTS 64
static volatile unsigned long (*g_counts)[_NSIG];
static __thread int t_slot;
static __thread struct {
	char data[LINE_CAP];
	size_t len;
} t_in;

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static void die(const char *what)
{
	fprintf(stderr, "executor[%d]: %s: %s\n", (int)getpid(), what, strerror(errno));
	_exit(2);
}

/* ---- signal handlers ---- */

static volatile sig_atomic_t *async_disp(int sig)
{
	return sig == SIGSEGV ? &g_disp_segv : &g_disp_bus;
}

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_code > 0) {
		if (t_in_access) {
			t_signo = sig;
			t_code = si->si_code;
			t_addr = (uint64_t)(uintptr_t)si->si_addr;
			t_lsb = (sig == SIGBUS && (si->si_code == BUS_MCEERR_AR ||
						   si->si_code == BUS_MCEERR_AO))
					? si->si_addr_lsb
					: 0;
			t_in_access = 0;
			siglongjmp(t_jb, 1);
		}
		/* A fault in the executor itself: default action on return. */
		signal(sig, SIG_DFL);
		return;
	}
	switch (*async_disp(sig)) {
	case DISP_CATCH:
		__atomic_add_fetch(&g_counts[t_slot][sig], 1, __ATOMIC_RELAXED);
		return;
	case DISP_IGNORE:
		return;
	default: {
		sigset_t s;
		signal(sig, SIG_DFL);
		sigemptyset(&s);
		sigaddset(&s, sig);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
		syscall(SYS_tgkill, getpid(), gettid_(), sig);
		return;
	}
	}
}

static void catch_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (sig > 0 && sig < _NSIG)
		__atomic_add_fetch(&g_counts[t_slot][sig], 1, __ATOMIC_RELAXED);
}

static void install_fault_handler(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		die("sigaction");
}

/*
 * The executor's own mappings (alternate signal stacks, thread stacks,
 * copy buffers) are placed by hint in a range of their own, far below where
 * the kernel places a scenario's mappings top-down, so that they never land
 * in a hole a scenario made, next to a growing stack, or inside a range the
 * scenario is about to map with at=. The hint is only a hint: if the range
 * is taken the kernel chooses, as for any mmap.
 */
#define OWN_BASE 0x200000000000ULL
static _Atomic uint64_t g_own_next = OWN_BASE;

static void *own_mmap(size_t len)
{
	len = (len + PAGE - 1) & ~(PAGE - 1);
	uint64_t hint = atomic_fetch_add(&g_own_next, len + PAGE); /* a page apart: no merging */
	void *p = mmap((void *)(uintptr_t)hint, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p;
}

#ifdef RSEQ_SIG
/* thread_pointer is the ABI's thread pointer, which __rseq_offset is
   relative to: r13 on powerpc64, where GCC has no builtin for it. */
static inline void *thread_pointer(void)
{
#if defined(__powerpc64__)
	void *tp;
	__asm__("mr %0, 13" : "=r"(tp));
	return tp;
#else
	return __builtin_thread_pointer();
#endif
}
#endif

/*
 * warm writes the pages an actor thread uses between two of its commands,
 * so that the faults a scenario counts (faults T) are the scenario's own:
 * a window of the stack, the alternate signal stack, and the thread's
 * buffers. After a fork it also takes the copy-on-write copies of them at
 * once, in parent and child.
 */
static void warm(void)
{
	volatile char window[128 * 1024];
	for (size_t i = 0; i < sizeof window; i += 512)
		window[i] = 0;
	/* And the frames above this one, up to the top of the stack: the
	   caller's loop writes them again after its reply, when a count may
	   already have started. */
	pthread_attr_t at;
	if (pthread_getattr_np(pthread_self(), &at) == 0) {
		void *base;
		size_t size;
		if (pthread_attr_getstack(&at, &base, &size) == 0) {
			uintptr_t lo = (uintptr_t)window & ~(uintptr_t)(PAGE - 1);
			uintptr_t hi = (uintptr_t)base + size;
			if (hi > lo)
				madvise((void *)lo, hi - lo, 23 /* MADV_POPULATE_WRITE */);
		}
		pthread_attr_destroy(&at);
	}
	stack_t ss;
	if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE))
		for (size_t i = 0; i < ss.ss_size; i += 512)
			((volatile char *)ss.ss_sp)[i] = 0;
	memset(&t_in, 0, sizeof t_in);
	/* Every other thread-local variable, whatever page it lies on. */
	memset(&t_jb, 0, sizeof t_jb);
	t_in_access = t_in_access;
	t_signo = t_signo;
	t_code = t_code;
	t_lsb = t_lsb;
	t_addr = t_addr;
	t_conn = t_conn;
	t_slot = t_slot;
	errno = errno;
#ifdef RSEQ_SIG
	/* The kernel writes the thread's rseq area on every return to user
	   mode; after a fork it is copy-on-write like the rest. Rewriting one
	   byte of it (with the value it has) takes the copy now. */
	if (__rseq_size > 0) {
		volatile char *rs = (volatile char *)thread_pointer() + __rseq_offset;
		rs[0] = rs[0];
	}
#endif
}

/*
 * own_thread_attr prepares a detached thread whose stack is one of the
 * executor's own mappings, not one pthread would place top-down among the
 * scenario's. The stack stays mapped after the thread ends: runs are short.
 */
#define THREAD_STACK (1024 * 1024)
static int own_thread_attr(pthread_attr_t *attr)
{
	void *stk = own_mmap(THREAD_STACK);
	if (stk == MAP_FAILED)
		return -1;
	pthread_attr_init(attr);
	pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstack(attr, stk, THREAD_STACK);
	return 0;
}

/*
 * maps_each calls fn for each line of /proc/self/maps, with its range,
 * permissions and name ("" for none), until fn returns nonzero. It reads
 * line by line, so that a scenario with many mappings cannot push the
 * executor's own (listed after them) out of a buffer; a line longer than
 * the buffer (a name of its own making) is skipped. Returns -1 when the
 * file cannot be read, else 0.
 */
static int maps_each(int (*fn)(void *ctx, unsigned long lo, unsigned long hi, const char *perms, const char *path),
		     void *ctx)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[8192];
	size_t len = 0;
	int skip = 0, eof = 0;
	for (;;) {
		char *nl = memchr(buf, '\n', len);
		if (nl == NULL) {
			if (eof)
				break;
			if (len == sizeof buf) { /* a line longer than the buffer: not ours to parse */
				skip = 1;
				len = 0;
			}
			ssize_t r = read(fd, buf + len, sizeof buf - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				eof = 1;
			else
				len += (size_t)r;
			continue;
		}
		*nl = 0;
		unsigned long lo, hi;
		char perms[8];
		int pathoff = 0;
		if (!skip && sscanf(buf, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &pathoff) >= 3 && pathoff != 0 &&
		    fn(ctx, lo, hi, perms, buf + pathoff))
			break;
		skip = 0;
		size_t used = (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len - used);
		len -= used;
	}
	close(fd);
	return 0;
}

/*
 * populate_own maps in the executor's own memory after a fork, so that the
 * faults a scenario counts (faults T) are the scenario's own. Read-only,
 * every page of its file-backed mappings (its program, libc, the loader):
 * fork does not copy their entries, and the process would otherwise fault
 * on the first run of each code path. Writable, its data: the writable
 * part of each of those files, the anonymous .bss right after it, and the
 * heap, whose pages fork made copy-on-write; another thread (the fork's
 * waiter) may write one of them first or not, so the copy would be taken
 * by whichever thread comes first. Files in DIR (the scenario's) and
 * anonymous memory, shared or not, are left alone; MADV_POPULATE_READ
 * never breaks copy-on-write, MADV_POPULATE_WRITE breaks it without
 * changing a byte.
 */
struct populate_ctx {
	size_t dirlen;
	unsigned long own_end; /* the end of the last own file mapping */
};

/*
 * The anonymous .bss ranges, recorded at start (record_own_bss) while the
 * only mappings are the executor's own: recognised after a fork by their
 * place right after a file's writable part, a scenario's mapping that
 * came to lie there (a hole between two of a library's segments fits one
 * page) would be populated too, taking its copy-on-write copies in both
 * processes before the scenario counts them.
 */
#define MAX_BSS 32
static struct {
	unsigned long lo, hi;
} g_bss[MAX_BSS];
static int g_nbss;

static int is_own_file(const struct populate_ctx *c, const char *perms, const char *path)
{
	/* Shared anonymous, memfd and hugetlb memory show as deleted files. */
	return path[0] == '/' && strncmp(path, g_dir, c->dirlen) != 0 && !strstr(path, " (deleted)") && perms[0] == 'r';
}

static int record_one(void *ctx, unsigned long lo, unsigned long hi, const char *perms, const char *path)
{
	struct populate_ctx *c = ctx;
	int writable = perms[0] == 'r' && perms[1] == 'w' && perms[3] == 'p';
	if (is_own_file(c, perms, path)) {
		c->own_end = hi;
		return 0;
	}
	if (writable && path[0] == 0 && lo == c->own_end && g_nbss < MAX_BSS) {
		g_bss[g_nbss].lo = lo;
		g_bss[g_nbss].hi = hi;
		g_nbss++;
	}
	c->own_end = 0;
	return 0;
}

static void record_own_bss(void)
{
	struct populate_ctx c = {.dirlen = strlen(g_dir)};
	maps_each(record_one, &c);
}

static int populate_one(void *ctx, unsigned long lo, unsigned long hi, const char *perms, const char *path)
{
	struct populate_ctx *c = ctx;
	int writable = perms[0] == 'r' && perms[1] == 'w' && perms[3] == 'p';
	if (is_own_file(c, perms, path)) {
		madvise((void *)lo, hi - lo, writable ? 23 /* MADV_POPULATE_WRITE */ : 22 /* MADV_POPULATE_READ */);
		return 0;
	}
	if (!writable)
		return 0;
	if (strcmp(path, "[heap]") == 0) {
		madvise((void *)lo, hi - lo, 23 /* MADV_POPULATE_WRITE */);
		return 0;
	}
	/* Only what was .bss at start: a scenario's mapping merged with it
	   (adjacent, same flags) is left alone. */
	for (int i = 0; i < g_nbss; i++) {
		unsigned long a = lo > g_bss[i].lo ? lo : g_bss[i].lo;
		unsigned long b = hi < g_bss[i].hi ? hi : g_bss[i].hi;
		if (a < b)
			madvise((void *)a, b - a, 23 /* MADV_POPULATE_WRITE */);
	}
	return 0;
}

static void populate_own(void)
{
	struct populate_ctx c = {.dirlen = strlen(g_dir)};
	maps_each(populate_one, &c);
}

static void setup_altstack(void)
{
	stack_t ss;
	void *p = own_mmap(ALTSTACK_SIZE);
	if (p == MAP_FAILED)
		die("mmap altstack");
	ss.ss_sp = p;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) != 0)
		die("sigaltstack");
}

/* ---- connection ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int connect_sock(void)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(g_sock) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, g_sock);
	for (long i = 0; i < (long)(CONNECT_TRIES * g_scale); i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			return fd;
		int e = errno;
		close(fd);
		if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN && e != EINTR) {
			errno = e;
			return -1;
		}
		sleep_ms(10);
	}
	errno = ETIMEDOUT;
	return -1;
}

static void send_str(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* the next recv sees the end */
		}
		s += w;
		n -= (size_t)w;
	}
}

static void sendf_fd(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf_fd(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = (int)(sizeof buf - 2);
	buf[n++] = '\n';
	send_str(fd, buf, (size_t)n);
}

#define reply(...) sendf_fd(t_conn, __VA_ARGS__)

static void reply_ok(void) { reply("ok"); }
static void reply_u(uint64_t v) { reply("ok %" PRIu64, v); }
static void reply_err(int e) { reply("err %d", e); }
static void reply_sig(void)
{
	reply("sig %d %d 0x%" PRIx64 " %d", (int)t_signo, (int)t_code, (uint64_t)t_addr,
	      (int)t_lsb);
}

/*
 * read_line reads one line into buf (NUL-terminated, without '\n').
 * Returns its length, -1 at the end of the connection, -2 for a line that
 * was too long (it has been consumed).
 */
static int read_line(char *buf)
{
	int too_long = 0;
	for (;;) {
		char *nl = memchr(t_in.data, '\n', t_in.len);
		if (nl != NULL) {
			size_t n = (size_t)(nl - t_in.data);
			if (!too_long) {
				memcpy(buf, t_in.data, n);
				buf[n] = 0;
			}
			memmove(t_in.data, nl + 1, t_in.len - n - 1);
			t_in.len -= n + 1;
			return too_long ? -2 : (int)n;
		}
		if (t_in.len == sizeof t_in.data) {
			too_long = 1; /* drop what we have, keep looking for the end */
			t_in.len = 0;
		}
		ssize_t r = recv(t_conn, t_in.data + t_in.len, sizeof t_in.data - t_in.len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		t_in.len += (size_t)r;
	}
}

/* ---- parsing helpers ---- */

static int parse_u64(const char *s, uint64_t *v)
{
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == 0 || strlen(s) > 20)
		return -1;
	for (const char *p = s; *p; p++) {
		if (base == 10 ? !(*p >= '0' && *p <= '9')
			       : !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
				   (*p >= 'A' && *p <= 'F')))
			return -1;
	}
	errno = 0;
	char *end;
	unsigned long long x = strtoull(s, &end, base);
	if (errno != 0 || *end != 0)
		return -1;
	*v = (uint64_t)x;
	return 0;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_CAP)
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/* Actor names: '@' starts the names the protocol reserves (@waiter). */
static int valid_actor_name(const char *s) { return valid_name(s) && s[0] != '@'; }

static int valid_file_name(const char *s)
{
	return valid_name(s) && strchr(s, '/') == NULL && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

static int dir_path(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", g_dir, name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Arguments of the command being run; parsed by the helpers below. */
struct args {
	int n;
	char **w; /* w[0] is the command */
	int bad;  /* a parse error was already replied */
};

static uint64_t arg_u64(struct args *a, int i)
{
	uint64_t v = 0;
	if (a->bad)
		return 0;
	if (parse_u64(a->w[i], &v) != 0) {
		reply("proto %s: bad number '%.64s'", a->w[0], a->w[i]);
		a->bad = 1;
	}
	return v;
}

static uint64_t arg_max(struct args *a, int i, uint64_t max)
{
	uint64_t v = arg_u64(a, i);
	if (!a->bad && v > max) {
		reply("proto %s: %.64s is out of range", a->w[0], a->w[i]);
		a->bad = 1;
	}
	return v;
}

/* A raw int parameter (PROT, FLAGS, ADVICE): any 32-bit pattern. */
/* A byte value: 0..255, or the word ret (FILL_RET). */
static int arg_byte(struct args *a, int i)
{
	if (!a->bad && strcmp(a->w[i], "ret") == 0)
		return FILL_RET;
	return (int)arg_max(a, i, 255);
}

static int arg_bits(struct args *a, int i) { return (int)(uint32_t)arg_max(a, i, UINT32_MAX); }

static int arg_int(struct args *a, int i) { return (int)arg_max(a, i, INT_MAX); }

static int arg_sig(struct args *a, int i, int allow_zero)
{
	int s = (int)arg_max(a, i, _NSIG - 1);
	if (!a->bad && s == 0 && !allow_zero) {
		reply("proto %s: signal 0", a->w[0]);
		a->bad = 1;
	}
	return s;
}

/* ---- guarded accesses ---- */

static int scenario_madvise(uint64_t addr, uint64_t len, int adv);

enum { ACC_READ, ACC_WRITE, ACC_EXEC, ACC_TOUCH_R, ACC_TOUCH_W, ACC_SYSREAD, ACC_SYSWRITE, ACC_MADVISE, ACC_SYNC_I };

struct access {
	int kind;
	int fd;
	uint64_t addr, size;
	unsigned val;
	uint64_t out; /* value read, or syscall result */
	int err;      /* errno of the syscall */
};

/*
 * guarded runs one access with the fault handler armed. It returns 0 when
 * the access completed and 1 when a fault signal was caught (t_signo ...).
 */
static int __attribute__((noinline)) guarded(struct access *volatile ac)
{
	if (sigsetjmp(t_jb, 1) != 0)
		return 1;
	t_in_access = 1;
	switch (ac->kind) {
	case ACC_READ:
		ac->out = *(volatile uint8_t *)(uintptr_t)ac->addr;
		break;
	case ACC_WRITE:
		if (ac->val == FILL_RET) {
			/* The whole instruction, first byte first (its fault is
			   the model's one-byte write's), the rest only within
			   the first byte's page, which is then mapped writable:
			   no fault the model does not make. */
			volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)ac->addr;
			p[0] = ret_insn[0];
			for (size_t i = 1; i < sizeof ret_insn && ((ac->addr + i) & (PAGE - 1)) != 0; i++)
				p[i] = ret_insn[i];
		} else {
			*(volatile uint8_t *)(uintptr_t)ac->addr = (uint8_t)ac->val;
		}
		break;
	case ACC_SYNC_I:
		sync_icache(ac->addr, ac->size);
		break;
	case ACC_EXEC: {
		long (*f)(long, long, long) = (long (*)(long, long, long))(uintptr_t)ac->addr;
		ac->out = (uint64_t)f(0, 0, 0);
		break;
	}
	case ACC_TOUCH_R:
	case ACC_TOUCH_W:
		for (uint64_t off = 0; off < ac->size; off += TOUCH_STEP) {
			volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(ac->addr + off);
			if (ac->kind == ACC_TOUCH_R)
				(void)*p;
			else
				*p = 0x41;
			if (off > UINT64_MAX - TOUCH_STEP)
				break;
		}
		break;
	case ACC_SYSREAD:
	case ACC_SYSWRITE: {
		ssize_t r = ac->kind == ACC_SYSREAD
				    ? read(ac->fd, (void *)(uintptr_t)ac->addr, (size_t)ac->size)
				    : write(ac->fd, (const void *)(uintptr_t)ac->addr, (size_t)ac->size);
		ac->err = r < 0 ? errno : 0;
		ac->out = (uint64_t)r;
		break;
	}
	case ACC_MADVISE: {
		/* MADV_HWPOISON may send the caller SIGBUS BUS_MCEERR_AR on its
		   way back (memory_failure with MF_ACTION_REQUIRED): the
		   signal, not the return value, is the outcome. */
		int r = scenario_madvise(ac->addr, ac->size, (int)ac->val);
		ac->err = r < 0 ? errno : 0;
		ac->out = (uint64_t)(int64_t)r;
		break;
	}
	}
	t_in_access = 0;
	return 0;
}

/* ---- commands ---- */

static void own_snapshot(void);

static void cmd_mmap(struct args *a)
{
	own_snapshot(); /* before the first mapping of the scenario's */
	uint64_t len = arg_u64(a, 1);
	int prot = arg_bits(a, 2), flags = arg_bits(a, 3);
	uint64_t addr = arg_u64(a, 4);
	uint64_t off = arg_u64(a, 6); /* passed on as the kernel's unsigned long */
	const char *file = a->w[5];
	if (a->bad)
		return;
	int fd = -1;
	if (strcmp(file, "-") != 0) {
		char path[PATH_MAX];
		if (!valid_file_name(file) || dir_path(path, sizeof path, file) != 0) {
			reply("proto mmap: bad file name");
			return;
		}
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			reply_err(errno);
			return;
		}
	}
	void *p = mmap((void *)(uintptr_t)addr, (size_t)len, prot, flags, fd, (off_t)off);
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED)
		reply_err(e);
	else
		reply("ok 0x%" PRIxPTR, (uintptr_t)p);
}

static void reply_rc(int rc)
{
	if (rc == 0)
		reply_ok();
	else
		reply_err(errno);
}

/*
 * ---- the executor's own memory ----
 *
 * A range a scenario names may reach past the scenario's mappings into the
 * executor's own: its program, libraries, heap and main stack lie above the
 * mappings the kernel places top-down, and `madvise A 2^63 dontneed` or
 * `mprotect A 2^63 none` would zap or lock the very code that runs the
 * command. To a scenario that memory is not there (the model has none): so
 * munmap, mprotect and madvise treat it as a hole, as the kernel treats
 * any hole (see 13 at the top). own_ranges lists it.
 */
struct range {
	uint64_t lo, hi;
};
#define MAX_OWN 128

/*
 * The mappings the process had before its first scenario mmap: all of them
 * the executor's (a fork child inherits its parent's list, and its memory
 * is a copy of the parent's). Address ranges, not mappings: a scenario
 * mapping that the kernel merges with one of them later stays apart.
 */
static pthread_mutex_t g_own_mu = PTHREAD_MUTEX_INITIALIZER;
static struct range g_own_snap[MAX_OWN];
static int g_own_snap_n = -1;

/*
 * maps_ranges fills out with the mappings of /proc/self/maps, all of them
 * (named is NULL) or those whose name is one of named; never [vsyscall],
 * which is no mapping of the mm; at most cap. Returns their number, or -1.
 */
struct ranges_ctx {
	struct range *out;
	int cap, n;
	const char *const *named;
};

static int range_one(void *ctx, unsigned long lo, unsigned long hi, const char *perms, const char *path)
{
	(void)perms;
	struct ranges_ctx *c = ctx;
	int want = strcmp(path, "[vsyscall]") != 0;
	if (c->named != NULL) {
		want = 0;
		for (const char *const *p = c->named; *p; p++)
			want |= strcmp(path, *p) == 0;
	}
	if (want)
		c->out[c->n++] = (struct range){lo, hi};
	return c->n == c->cap;
}

static int maps_ranges(struct range *out, int cap, const char *const *named)
{
	struct ranges_ctx c = {.out = out, .cap = cap, .named = named};
	if (cap <= 0)
		return 0;
	return maps_each(range_one, &c) < 0 ? -1 : c.n;
}

/* own_snapshot records the process's mappings, once, before the first
   scenario mmap (cmd_mmap calls it). */
static void own_snapshot(void)
{
	pthread_mutex_lock(&g_own_mu);
	if (g_own_snap_n < 0)
		g_own_snap_n = maps_ranges(g_own_snap, MAX_OWN, NULL);
	pthread_mutex_unlock(&g_own_mu);
}

/*
 * own_ranges fills out with the executor's own memory, sorted: what the
 * process had before its first scenario mmap, its [heap] and [stack] as
 * they are now (they grow), and the range own_mmap hands out (thread
 * stacks, alternate signal stacks, copy buffers). Threads allocate from the
 * main heap (M_ARENA_MAX 1), so no malloc arena lands among the scenario's
 * mappings. Returns the number of ranges, or -1 when the maps cannot be
 * read.
 */
static int own_ranges(struct range *out, int cap)
{
	static const char *const grow[] = {"[heap]", "[stack]", NULL};
	pthread_mutex_lock(&g_own_mu);
	int n = 0;
	for (int i = 0; i < g_own_snap_n && n < cap; i++)
		out[n++] = g_own_snap[i];
	pthread_mutex_unlock(&g_own_mu);
	if (n < cap)
		out[n++] = (struct range){OWN_BASE, atomic_load(&g_own_next)};
	int m = maps_ranges(out + n, cap - n, grow);
	if (m < 0)
		return -1;
	n += m;
	for (int i = 1; i < n; i++) /* insertion sort by start */
		for (int j = i; j > 0 && out[j].lo < out[j - 1].lo; j--) {
			struct range t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/*
 * scenario_pieces splits [lo, hi) (page-aligned) into the pieces that are
 * not the executor's own memory. Returns the number of pieces, and sets
 * *overlap when some own memory was cut out; -1 when that cannot be told.
 */
static int scenario_pieces(uint64_t lo, uint64_t hi, struct range *out, int cap, int *overlap)
{
	struct range own[MAX_OWN];
	int n = own_ranges(own, MAX_OWN);
	if (n < 0)
		return -1;
	int k = 0;
	uint64_t at = lo;
	*overlap = 0;
	for (int i = 0; i < n && at < hi; i++) {
		if (own[i].hi <= at || own[i].lo >= hi)
			continue;
		*overlap = 1;
		if (own[i].lo > at && k < cap)
			out[k++] = (struct range){at, own[i].lo};
		if (own[i].hi > at)
			at = own[i].hi;
	}
	if (at < hi && k < cap)
		out[k++] = (struct range){at, hi};
	return k;
}

/*
 * page_range turns ADDR LEN into [lo, hi) as the kernel's range checks
 * do (start page-aligned, PAGE_ALIGN(len), no wrap). It returns 0 when the
 * kernel would refuse or ignore the range before touching anything: then
 * the call goes to the kernel as it is, for the kernel's own answer.
 */
static int page_range(uint64_t addr, uint64_t len, struct range *r)
{
	if (addr & (PAGE - 1) || len == 0 || len > UINT64_MAX - (PAGE - 1))
		return 0;
	uint64_t n = (len + PAGE - 1) & ~(PAGE - 1);
	if (addr > UINT64_MAX - n)
		return 0;
	*r = (struct range){addr, addr + n};
	return 1;
}

/*
 * task_size is the end of the user address space (TASK_SIZE_MAX). s390x
 * has one of 2^64 - PAGE_SIZE whatever its page-table levels (a mapping
 * above them upgrades the tables: not probed); book3s64 powerpc 4 PiB
 * with 64 KiB pages, 64 TiB with 4 KiB (asm/task_size_64.h: probing above
 * the default window would open it). Elsewhere the highest power of two
 * below which a page can be mapped, less a page: x86_64 2^47 (2^56 with
 * 5-level paging), riscv64 2^38, 2^47 or 2^56 (Sv39/48/57), loongarch64
 * its VA_BITS.
 */
static uint64_t task_size(void)
{
	static uint64_t size;
	if (size != 0)
		return size;
#if defined(__s390x__)
	size = 0 - PAGE;
#elif defined(__powerpc64__)
	size = PAGE == 65536 ? 1ULL << 52 : 1ULL << 46;
#else
	for (int bits = 57; bits >= 32 && size == 0; bits--) {
		void *p = mmap((void *)(uintptr_t)((1ULL << bits) - 2 * PAGE), PAGE, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, PAGE);
		if (p != MAP_FAILED || errno == EEXIST)
			size = (1ULL << bits) - PAGE;
	}
	if (size == 0)
		size = (1ULL << 47) - PAGE;
#endif
	return size;
}

#define MAX_PIECES (MAX_OWN + 1)

static void cmd_munmap(struct args *a)
{
	uint64_t addr = arg_u64(a, 1), len = arg_u64(a, 2);
	if (a->bad)
		return;
	struct range r, pieces[MAX_PIECES];
	int overlap = 0, n = -1;
	/* The kernel's own checks (do_vmi_munmap) first: they refuse the
	   whole range before anything is unmapped. */
	if (page_range(addr, len, &r) && r.lo <= task_size() && len <= task_size() - r.lo)
		n = scenario_pieces(r.lo, r.hi, pieces, MAX_PIECES, &overlap);
	if (n < 0 || !overlap) {
		reply_rc(munmap((void *)(uintptr_t)addr, (size_t)len));
		return;
	}
	/* Unmapping a hole is no error: each piece on its own. */
	for (int i = 0; i < n; i++)
		if (munmap((void *)(uintptr_t)pieces[i].lo, (size_t)(pieces[i].hi - pieces[i].lo)) != 0) {
			reply_err(errno);
			return;
		}
	reply_ok();
}

static void cmd_mprotect(struct args *a)
{
	uint64_t addr = arg_u64(a, 1), len = arg_u64(a, 2);
	int prot = arg_bits(a, 3);
	if (a->bad)
		return;
	struct range r, pieces[MAX_PIECES];
	int overlap = 0, n = -1;
	if (page_range(addr, len, &r))
		n = scenario_pieces(r.lo, r.hi, pieces, MAX_PIECES, &overlap);
	if (n < 0 || !overlap) {
		reply_rc(mprotect((void *)(uintptr_t)addr, (size_t)len, prot));
		return;
	}
	/* do_mprotect_pkey stops at the first hole with ENOMEM, having
	   changed what lay before it: the first own byte is that hole. */
	if (n > 0 && pieces[0].lo == r.lo &&
	    mprotect((void *)(uintptr_t)pieces[0].lo, (size_t)(pieces[0].hi - pieces[0].lo), prot) != 0) {
		reply_err(errno);
		return;
	}
	reply_err(ENOMEM);
}

/*
 * scenario_madvise is madvise over the scenario's part of ADDR LEN: the
 * executor's own memory is a hole (see 13 at the top). 0, or -1 and errno.
 */
static int scenario_madvise(uint64_t addr, uint64_t len, int adv)
{
	struct range r, pieces[MAX_PIECES];
	int overlap = 0, n = -1;
	if (page_range(addr, len, &r))
		n = scenario_pieces(r.lo, r.hi, pieces, MAX_PIECES, &overlap);
	if (n < 0 || !overlap)
		return madvise((void *)(uintptr_t)addr, (size_t)len, adv);
	/* madvise applies the advice to every mapping in the range and
	   answers ENOMEM for the holes at the end, but the populate advices
	   stop at the first hole: the executor's memory is holes. */
	int stop = adv == 22 /* MADV_POPULATE_READ */ || adv == 23 /* MADV_POPULATE_WRITE */;
	for (int i = 0; i < n; i++) {
		if (stop && pieces[i].lo != r.lo)
			break;
		if (madvise((void *)(uintptr_t)pieces[i].lo, (size_t)(pieces[i].hi - pieces[i].lo), adv) != 0 &&
		    (errno != ENOMEM || stop))
			return -1;
	}
	errno = ENOMEM;
	return -1;
}

static void run_access(struct access *ac);

/* madvise runs guarded: a fault signal the call raises is its outcome. */
static void cmd_madvise(struct args *a)
{
	struct access ac = {.kind = ACC_MADVISE, .addr = arg_u64(a, 1), .size = arg_u64(a, 2),
			    .val = (unsigned)arg_bits(a, 3)};
	if (!a->bad)
		run_access(&ac);
}

/*
 * own_overlap reports whether ADDR LEN reaches the executor's own memory:
 * a userfaultfd range there is refused with EINVAL (see 13 at the top).
 */
static int own_overlap(uint64_t addr, uint64_t len)
{
	struct range r, pieces[MAX_PIECES];
	int overlap = 0;
	if (!page_range(addr, len, &r) || scenario_pieces(r.lo, r.hi, pieces, MAX_PIECES, &overlap) < 0)
		return 0;
	return overlap;
}

/*
 * fill_fd writes size bytes of fill to fd; returns 0 or an errno. The
 * buffer is on the (warm) stack: no mapping, no fault, no memory charged to
 * the scenario's memory cgroup beyond the file's own pages. It writes one
 * page at a time: a file system with large folios (ext4 since 6.16) caches
 * a longer write in a folio of its length, whose pages a shared write fault
 * or fault-around then maps together, where the model caches single pages.
 */
static int fill_fd(int fd, uint64_t size, int fill)
{
	enum { chunk = 4096 };
	unsigned char buf[chunk];
	/* chunk is a multiple of every ret_insn length: each chunk starts
	   the pattern at its offset 0. */
	fill_bytes(buf, chunk, 0, fill);
	int e = 0;
	while (size > 0) {
		size_t n = size < chunk ? (size_t)size : chunk;
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			break;
		}
		if (w == 0) {
			e = EIO;
			break;
		}
		size -= (uint64_t)w;
	}
	return e;
}

static void cmd_file(struct args *a)
{
	uint64_t size = arg_max(a, 2, SIZE_CAP);
	int fill = arg_byte(a, 3);
	char path[PATH_MAX];
	if (a->bad)
		return;
	if (!valid_file_name(a->w[1]) || dir_path(path, sizeof path, a->w[1]) != 0) {
		reply("proto file: bad file name");
		return;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		reply_err(errno);
		return;
	}
	int e = fill_fd(fd, size, fill);
	close(fd);
	if (e)
		reply_err(e);
	else
		reply_ok();
}

static void cmd_truncate(struct args *a)
{
	uint64_t size = arg_max(a, 2, SIZE_CAP);
	char path[PATH_MAX];
	if (a->bad)
		return;
	if (!valid_file_name(a->w[1]) || dir_path(path, sizeof path, a->w[1]) != 0) {
		reply("proto truncate: bad file name");
		return;
	}
	reply_rc(truncate(path, (off_t)size));
}

/*
 * reserve_own_stack makes the process's main stack, when the calling
 * thread runs on it, reach STACK_RESERVE below this frame now, while the
 * limit in force still lets it grow (see 14 at the top). The pages are
 * touched under the access guard: where the limit is already too low to
 * grow the stack, the fault is caught on the alternate stack and the stack
 * stays as it is.
 */
#define STACK_RESERVE (1024 * 1024)
static void __attribute__((noinline)) reserve_own_stack(void)
{
	static const char *const main_stack[] = {"[stack]", NULL};
	char here;
	uintptr_t sp = (uintptr_t)&here;
	struct range stk;
	if (maps_ranges(&stk, 1, main_stack) != 1 || sp < stk.lo || sp >= stk.hi)
		return; /* a thread's own stack, which never grows */
	/* From 64 KiB below this frame (guarded's own frame lies above) down. */
	uintptr_t top = (sp - 64 * 1024) & ~(uintptr_t)(PAGE - 1);
	struct access ac = {.kind = ACC_TOUCH_W, .addr = top - STACK_RESERVE, .size = STACK_RESERVE};
	(void)guarded(&ac);
}

static void cmd_rlimit_stack(struct args *a)
{
	uint64_t size = arg_u64(a, 1);
	struct rlimit rl;
	if (a->bad)
		return;
	reserve_own_stack();
	if (getrlimit(RLIMIT_STACK, &rl) != 0) {
		reply_err(errno);
		return;
	}
	rl.rlim_cur = (rlim_t)size;
	if (rl.rlim_max != RLIM_INFINITY && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_max < rl.rlim_cur))
		rl.rlim_max = rl.rlim_cur;
	reply_rc(setrlimit(RLIMIT_STACK, &rl));
}

/*
 * sync_stored makes code a completed access stored visible to instruction
 * fetch (see sync_icache): a `write ADDR ret`, and a `kread` of a ret-filled
 * file, whose copy_to_user the kernel does not flush for instruction fetch.
 * It runs guarded and its outcome is ignored: the store already succeeded,
 * and the pages it cleans are present (cache maintenance by address may
 * still fault where a later mprotect took the read permission away).
 */
static void sync_stored(const struct access *ac)
{
	struct access s = {.kind = ACC_SYNC_I, .addr = ac->addr};
	if (ac->kind == ACC_WRITE && ac->val == FILL_RET) {
		uint64_t room = PAGE - (ac->addr & (PAGE - 1));
		s.size = room < sizeof ret_insn ? room : sizeof ret_insn;
	} else if (ac->kind == ACC_SYSREAD && ac->val == FILL_RET && (int64_t)ac->out > 0)
		s.size = ac->out;
	else
		return;
	(void)guarded(&s);
}

static void run_access(struct access *ac)
{
	if (guarded(ac)) {
		reply_sig();
		return;
	}
	sync_stored(ac);
	switch (ac->kind) {
	case ACC_READ:
		reply_u(ac->out);
		break;
	case ACC_SYSREAD:
	case ACC_SYSWRITE:
		if ((int64_t)ac->out < 0)
			reply_err(ac->err);
		else
			reply_u(ac->out);
		break;
	case ACC_MADVISE:
		if ((int64_t)ac->out < 0)
			reply_err(ac->err);
		else
			reply_ok();
		break;
	default:
		reply_ok();
	}
}

static void cmd_read(struct args *a)
{
	struct access ac = {.kind = ACC_READ, .addr = arg_u64(a, 1)};
	if (!a->bad)
		run_access(&ac);
}

static void cmd_write(struct args *a)
{
	struct access ac = {.kind = ACC_WRITE, .addr = arg_u64(a, 1), .val = (unsigned)arg_byte(a, 2)};
	if (!a->bad)
		run_access(&ac);
}

static void cmd_exec(struct args *a)
{
	struct access ac = {.kind = ACC_EXEC, .addr = arg_u64(a, 1)};
	if (!a->bad)
		run_access(&ac);
}

static void cmd_touch(struct args *a)
{
	struct access ac = {.addr = arg_u64(a, 1), .size = arg_max(a, 2, SIZE_CAP)};
	if (a->bad)
		return;
	const char *m = a->w[3];
	if (strcmp(m, "r") == 0 || strcmp(m, "read") == 0)
		ac.kind = ACC_TOUCH_R;
	else if (strcmp(m, "w") == 0 || strcmp(m, "write") == 0)
		ac.kind = ACC_TOUCH_W;
	else {
		reply("proto touch: mode must be r or w");
		return;
	}
	run_access(&ac);
}

/* kio_file creates a fresh file in DIR holding size bytes of fill. */
static int kio_file(char *path, size_t cap, uint64_t size, int fill)
{
	int n = snprintf(path, cap, "%s/.kio-%d-%lu", g_dir, (int)getpid(),
			 (unsigned long)atomic_fetch_add(&g_seq, 1));
	if (n < 0 || (size_t)n >= cap)
		return ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	int e = fill_fd(fd, size, fill);
	close(fd);
	if (e)
		unlink(path);
	return e;
}

static void cmd_kread(struct args *a)
{
	struct access ac = {.kind = ACC_SYSREAD, .addr = arg_u64(a, 1), .size = arg_max(a, 2, SIZE_CAP)};
	int fill = arg_byte(a, 3);
	ac.val = (unsigned)fill; /* sync_stored: a ret fill is code */
	char path[PATH_MAX];
	if (a->bad)
		return;
	int e = kio_file(path, sizeof path, ac.size, fill);
	if (e) {
		reply_err(e);
		return;
	}
	ac.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ac.fd < 0) {
		reply_err(errno);
		unlink(path);
		return;
	}
	run_access(&ac);
	close(ac.fd);
	unlink(path);
}

static void cmd_kwrite(struct args *a)
{
	struct access ac = {.kind = ACC_SYSWRITE, .addr = arg_u64(a, 1), .size = arg_max(a, 2, SIZE_CAP)};
	char path[PATH_MAX];
	if (a->bad)
		return;
	int e = kio_file(path, sizeof path, 0, 0);
	if (e) {
		reply_err(e);
		return;
	}
	ac.fd = open(path, O_WRONLY | O_CLOEXEC);
	if (ac.fd < 0) {
		reply_err(errno);
		unlink(path);
		return;
	}
	run_access(&ac);
	close(ac.fd);
	unlink(path);
}

/* ---- actors ---- */

static void serve(void);

static void __attribute__((noreturn)) actor_exit(void)
{
	if (t_conn >= 0) {
		close(t_conn);
		t_conn = -1;
	}
	if (atomic_fetch_sub(&g_actors, 1) == 1)
		_exit(0);
	stack_t ss = {.ss_flags = SS_DISABLE};
	stack_t old;
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE)) {
		sigaltstack(&ss, NULL);
		munmap(old.ss_sp, old.ss_size);
	}
	pthread_exit(NULL);
}

/* actor_run connects as actor name, says hello and serves commands. */
static void __attribute__((noreturn)) actor_run(const char *name)
{
	t_conn = connect_sock();
	if (t_conn < 0) {
		fprintf(stderr, "executor[%d]: actor %s: connect: %s\n", (int)getpid(), name,
			strerror(errno));
		actor_exit();
	}
	warm();
	sendf_fd(t_conn, "hello %s %d %d", name, (int)getpid(), (int)gettid_());
	serve();
	actor_exit();
}

struct thread_arg {
	char name[NAME_CAP + 1];
	int slot;
};

static void *thread_start(void *arg)
{
	struct thread_arg *ta = arg;
	char name[NAME_CAP + 1];
	snprintf(name, sizeof name, "%s", ta->name);
	t_slot = ta->slot;
	free(ta);
	setup_altstack();
	actor_run(name);
}

/* arg_slot parses an actor slot; a bad one is replied to. */
static int arg_slot(struct args *a, int i)
{
	uint64_t v = arg_u64(a, i);
	if (!a->bad && v >= MAX_SLOTS) {
		reply("proto %s: slot %.32s out of range", a->w[0], a->w[i]);
		a->bad = 1;
	}
	return (int)v;
}

static void cmd_thread(struct args *a)
{
	mallopt(M_ARENA_MAX, 1); /* no malloc arena among the scenario's mappings (own_ranges) */
	if (!valid_actor_name(a->w[1])) {
		reply("proto thread: bad name");
		return;
	}
	int slot = arg_slot(a, 2);
	if (a->bad)
		return;
	struct thread_arg *name = malloc(sizeof *name);
	if (name == NULL) {
		reply_err(errno);
		return;
	}
	snprintf(name->name, sizeof name->name, "%s", a->w[1]);
	name->slot = slot;
	for (int i = 0; i < _NSIG; i++)
		g_counts[slot][i] = 0;
	pthread_attr_t attr;
	pthread_t th;
	if (own_thread_attr(&attr) != 0) {
		free(name);
		reply_err(errno);
		return;
	}
	atomic_fetch_add(&g_actors, 1);
	int r = pthread_create(&th, &attr, thread_start, name);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		atomic_fetch_sub(&g_actors, 1);
		free(name);
		reply_err(r);
		return;
	}
	reply_ok();
}

static void *waiter_start(void *arg)
{
	pid_t child = (pid_t)(intptr_t)arg;
	int fd = connect_sock();
	if (fd >= 0)
		sendf_fd(fd, "hello @waiter %d %d", (int)getpid(), (int)gettid_());
	int st = 0;
	pid_t r;
	do
		r = waitpid(child, &st, __WALL);
	while (r < 0 && errno == EINTR);
	if (fd >= 0) {
		if (r == child)
			sendf_fd(fd, "exited %d %d", (int)child, st);
		close(fd);
	}
	return NULL;
}

/* close_from closes every descriptor >= lowfd: close_range(2) (Linux 5.9). */
static void close_from(int lowfd)
{
	if (syscall(__NR_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
	/* Fallback: close what /proc/self/fd lists, in bounded passes. */
	for (int pass = 0; pass < 4; pass++) {
		DIR *d = opendir("/proc/self/fd");
		if (d == NULL)
			break;
		int fds[256], n = 0, dfd = dirfd(d);
		struct dirent *de;
		while ((de = readdir(d)) != NULL && n < 256) {
			int fd = atoi(de->d_name);
			if (fd >= lowfd && fd != dfd && de->d_name[0] != '.')
				fds[n++] = fd;
		}
		closedir(d);
		for (int i = 0; i < n; i++)
			close(fds[i]);
		if (n < 256)
			break;
	}
}

static void cmd_fork(struct args *a)
{
	char name[NAME_CAP + 1];
	if (!valid_actor_name(a->w[1])) {
		reply("proto fork: bad name");
		return;
	}
	snprintf(name, sizeof name, "%s", a->w[1]);
	int slot = arg_slot(a, 2);
	if (a->bad)
		return;
	mallopt(M_ARENA_MAX, 1); /* the waiter thread's too (own_ranges) */

	pthread_mutex_lock(&g_uffd_mu);
	pthread_mutex_lock(&g_own_mu); /* the child inherits a whole list (own_ranges) */
	pid_t pid = fork();
	if (pid == 0) {
		/* The child: one thread, this one. Forget the parent's actors. */
		pthread_mutex_init(&g_uffd_mu, NULL);
		pthread_mutex_init(&g_own_mu, NULL);
		close_from(3);
		for (int i = 0; i < MAX_UFFD; i++) {
			g_uffd[i].name[0] = 0;
			g_uffd[i].fd = -1;
		}
		atomic_store(&g_actors, 1);
		t_slot = slot;
		for (int i = 0; i < _NSIG; i++)
			g_counts[slot][i] = 0;
		populate_own();
		t_in.len = 0;
		t_conn = -1;
		actor_run(name);
	}
	int e = errno;
	pthread_mutex_unlock(&g_own_mu);
	pthread_mutex_unlock(&g_uffd_mu);
	if (pid < 0) {
		reply_err(e);
		return;
	}
	/* The waiter starts with every signal blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_t th;
	int r = own_thread_attr(&attr) != 0 ? errno
					    : pthread_create(&th, &attr, waiter_start, (void *)(intptr_t)pid);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
			;
		reply_err(r);
		return;
	}
	warm(); /* take this thread's copy-on-write copies now */
	populate_own();
	reply_u((uint64_t)pid);
}

/* evict: write the file back and drop its unmapped page-cache pages. */
static void cmd_evict(struct args *a)
{
	char path[PATH_MAX];
	if (!valid_file_name(a->w[1]) || dir_path(path, sizeof path, a->w[1]) != 0) {
		reply("proto evict: bad file name");
		return;
	}
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		reply_err(errno);
		return;
	}
	int r = fsync(fd);
	if (r == 0)
		r = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	else
		r = errno;
	close(fd);
	if (r != 0)
		reply_err(r);
	else
		reply_ok();
}

static void cmd_warm(struct args *a)
{
	(void)a;
	warm();
	reply_ok();
}

static void cmd_sigaction(struct args *a)
{
	int sig = arg_sig(a, 1, 0);
	if (a->bad)
		return;
	const char *m = a->w[2];
	int disp;
	if (strcmp(m, "catch") == 0)
		disp = DISP_CATCH;
	else if (strcmp(m, "ignore") == 0)
		disp = DISP_IGNORE;
	else if (strcmp(m, "default") == 0)
		disp = DISP_DEFAULT;
	else {
		reply("proto sigaction: want catch, ignore or default");
		return;
	}
	if (sig == SIGSEGV || sig == SIGBUS) {
		*async_disp(sig) = disp;
		reply_ok();
		return;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	if (disp == DISP_CATCH) {
		sa.sa_sigaction = catch_handler;
		sa.sa_flags = SA_SIGINFO;
	} else if (disp == DISP_IGNORE && sig == SIGCHLD) {
		/* SIG_IGN for SIGCHLD would also reap children at once, leaving
		   the waiter no status to report; its default ignores it too. */
		sa.sa_handler = SIG_DFL;
	} else {
		sa.sa_handler = disp == DISP_IGNORE ? SIG_IGN : SIG_DFL;
	}
	reply_rc(sigaction(sig, &sa, NULL));
}

static void cmd_kill(struct args *a)
{
	int pid = arg_int(a, 1), tid = arg_int(a, 2), sig = arg_sig(a, 3, 1);
	if (!a->bad)
		reply_rc((int)syscall(SYS_tgkill, pid, tid, sig));
}

static void cmd_caught(struct args *a)
{
	int slot = arg_slot(a, 1);
	int sig = arg_sig(a, 2, 0);
	if (!a->bad)
		reply_u(__atomic_load_n(&g_counts[slot][sig], __ATOMIC_RELAXED));
}

static void cmd_faults(struct args *a)
{
	(void)a;
	struct rusage ru;
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		reply_err(errno);
	else
		reply("ok %ld %ld", ru.ru_minflt, ru.ru_majflt);
}

/* ---- userfaultfd ---- */

/* uffd_new opens a userfaultfd; returns it or -errno. */
static int uffd_new(void)
{
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	int e = errno;
	if (e != EPERM && e != ENOSYS)
		return -e;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -e;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	int e2 = errno;
	close(dev);
	return fd >= 0 ? fd : -e2;
}

/* uffd_find returns the descriptor of handle name, or -1. */
static int uffd_find(const char *name)
{
	int fd = -1;
	pthread_mutex_lock(&g_uffd_mu);
	for (int i = 0; i < MAX_UFFD; i++)
		if (g_uffd[i].fd >= 0 && strcmp(g_uffd[i].name, name) == 0)
			fd = g_uffd[i].fd;
	pthread_mutex_unlock(&g_uffd_mu);
	return fd;
}

/* uffd_arg returns handle a->w[1]'s descriptor, or replies err EBADF. */
static int uffd_arg(struct args *a)
{
	if (a->bad)
		return -1;
	int fd = uffd_find(a->w[1]);
	if (fd < 0)
		reply_err(EBADF);
	return fd;
}

static void cmd_uffd_open(struct args *a)
{
	uint64_t want = arg_u64(a, 2);
	if (a->bad)
		return;
	if (!valid_name(a->w[1])) {
		reply("proto uffd_open: bad name");
		return;
	}
	pthread_mutex_lock(&g_uffd_mu);
	int slot = -1, dup = 0;
	for (int i = 0; i < MAX_UFFD; i++) {
		if (g_uffd[i].fd >= 0 && strcmp(g_uffd[i].name, a->w[1]) == 0)
			dup = 1;
		if (g_uffd[i].fd < 0 && slot < 0)
			slot = i;
	}
	if (dup || slot < 0) {
		pthread_mutex_unlock(&g_uffd_mu);
		reply("proto uffd_open: %s", dup ? "handle already open" : "too many handles");
		return;
	}
	int fd = uffd_new();
	if (fd < 0) {
		pthread_mutex_unlock(&g_uffd_mu);
		reply_err(-fd);
		return;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = want};
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		int e = errno;
		close(fd);
		pthread_mutex_unlock(&g_uffd_mu);
		reply_err(e);
		return;
	}
	snprintf(g_uffd[slot].name, sizeof g_uffd[slot].name, "%s", a->w[1]);
	g_uffd[slot].fd = fd;
	pthread_mutex_unlock(&g_uffd_mu);
	uint64_t granted = want & api.features;
	if (want & UFFD_FEATURE_WP_ASYNC)
		granted |= UFFD_FEATURE_WP_UNPOPULATED & api.features;
	reply_u(granted);
}

static void cmd_uffd_close(struct args *a)
{
	int found = 0;
	pthread_mutex_lock(&g_uffd_mu);
	for (int i = 0; i < MAX_UFFD; i++) {
		if (g_uffd[i].fd >= 0 && strcmp(g_uffd[i].name, a->w[1]) == 0) {
			close(g_uffd[i].fd);
			g_uffd[i].fd = -1;
			g_uffd[i].name[0] = 0;
			found = 1;
		}
	}
	pthread_mutex_unlock(&g_uffd_mu);
	if (found)
		reply_ok();
	else
		reply_err(EBADF);
}

static void cmd_uffd_register(struct args *a)
{
	struct uffdio_register r = {.range = {.start = arg_u64(a, 2), .len = arg_u64(a, 3)},
				    .mode = arg_u64(a, 4)};
	int fd = uffd_arg(a);
	if (fd < 0)
		return;
	if (own_overlap(r.range.start, r.range.len)) {
		reply_err(EINVAL);
		return;
	}
	if (ioctl(fd, UFFDIO_REGISTER, &r) != 0)
		reply_err(errno);
	else
		reply_u(r.ioctls);
}

static void cmd_uffd_unregister(struct args *a)
{
	struct uffdio_range r = {.start = arg_u64(a, 2), .len = arg_u64(a, 3)};
	int fd = uffd_arg(a);
	if (fd >= 0)
		reply_rc(ioctl(fd, UFFDIO_UNREGISTER, &r));
}

static void cmd_uffd_wake(struct args *a)
{
	struct uffdio_range r = {.start = arg_u64(a, 2), .len = arg_u64(a, 3)};
	int fd = uffd_arg(a);
	if (fd >= 0)
		reply_rc(ioctl(fd, UFFDIO_WAKE, &r));
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cmd_uffd_event(struct args *a)
{
	uint64_t tmo = arg_max(a, 2, INT_MAX);
	int fd = uffd_arg(a);
	if (fd < 0)
		return;
	int64_t deadline = now_ms() + (int64_t)tmo;
	struct uffd_msg m;
	for (;;) {
		/* The descriptor is O_NONBLOCK (see 6 at the top): poll, then read. */
		ssize_t n = read(fd, &m, sizeof m);
		if (n == (ssize_t)sizeof m)
			break;
		if (n >= 0) {
			reply_err(EIO);
			return;
		}
		if (errno != EAGAIN && errno != EINTR) {
			reply_err(errno);
			return;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			reply_err(ETIMEDOUT);
			return;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR) {
			reply_err(errno);
			return;
		}
		if (r > 0 && (p.revents & POLLNVAL)) {
			reply_err(EBADF);
			return;
		}
	}
	if (m.event == UFFD_EVENT_PAGEFAULT)
		reply("event 0x%" PRIx64 " %" PRIu64, (uint64_t)m.arg.pagefault.address,
		      (uint64_t)m.arg.pagefault.flags);
	else
		reply_u(m.event);
}

/* src_buffer maps a page-aligned buffer of len bytes (rounded up) of fill. */
static void *src_buffer(uint64_t len, int fill, size_t *maplen)
{
	*maplen = (size_t)((len + PAGE - 1) & ~(PAGE - 1));
	if (*maplen == 0)
		*maplen = PAGE;
	void *p = own_mmap(*maplen);
	if (p == MAP_FAILED)
		return NULL;
	fill_bytes(p, *maplen, 0, fill);
	return p;
}

static void cmd_uffd_copy(struct args *a)
{
	uint64_t dst = arg_u64(a, 2), len = arg_max(a, 3, SIZE_CAP);
	int fill = arg_byte(a, 4);
	int fd = uffd_arg(a);
	if (fd < 0)
		return;
	size_t maplen;
	void *src = src_buffer(len, fill, &maplen);
	if (src == NULL) {
		reply_err(errno);
		return;
	}
	struct uffdio_copy c = {.dst = dst, .src = (uint64_t)(uintptr_t)src, .len = len, .mode = 0};
	int rc = ioctl(fd, UFFDIO_COPY, &c);
	int e = errno;
	munmap(src, maplen);
	if (rc != 0)
		reply_err(e);
	else
		reply_u((uint64_t)c.copy);
}

static void cmd_uffd_zeropage(struct args *a)
{
	struct uffdio_zeropage z = {.range = {.start = arg_u64(a, 2), .len = arg_max(a, 3, SIZE_CAP)}};
	int fd = uffd_arg(a);
	if (fd < 0)
		return;
	if (ioctl(fd, UFFDIO_ZEROPAGE, &z) != 0)
		reply_err(errno);
	else
		reply_u((uint64_t)z.zeropage);
}

static void cmd_uffd_poison(struct args *a)
{
	struct fl_uffdio_poison p = {.range = {.start = arg_u64(a, 2), .len = arg_max(a, 3, SIZE_CAP)}};
	int fd = uffd_arg(a);
	if (fd < 0)
		return;
	if (ioctl(fd, FL_UFFDIO_POISON, &p) != 0)
		reply_err(errno);
	else
		reply_u((uint64_t)p.updated);
}

static void cmd_uffd_continue(struct args *a)
{
	struct uffdio_continue c = {.range = {.start = arg_u64(a, 2), .len = arg_max(a, 3, SIZE_CAP)}};
	int fd = uffd_arg(a);
	if (fd < 0)
		return;
	if (ioctl(fd, UFFDIO_CONTINUE, &c) != 0)
		reply_err(errno);
	else
		reply_u((uint64_t)c.mapped);
}

static void cmd_uffd_wp(struct args *a)
{
	struct uffdio_writeprotect w = {.range = {.start = arg_u64(a, 2), .len = arg_u64(a, 3)}};
	w.mode = arg_max(a, 4, 1) ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
	int fd = uffd_arg(a);
	if (fd < 0)
		return;
	if (own_overlap(w.range.start, w.range.len))
		reply_err(EINVAL);
	else
		reply_rc(ioctl(fd, UFFDIO_WRITEPROTECT, &w));
}

/* ---- probes ---- */

static void cmd_probe_guard(struct args *a)
{
	(void)a;
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		reply_err(errno);
		return;
	}
	int rc = madvise(p + PAGE, PAGE, 102 /* MADV_GUARD_INSTALL */);
	int e = errno;
	munmap(p, 2 * PAGE);
	if (rc == 0)
		reply_ok();
	else
		reply_err(e);
}

static void cmd_probe_uffd(struct args *a)
{
	(void)a;
	int fd = uffd_new();
	if (fd < 0) {
		reply_err(-fd);
		return;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	int rc = ioctl(fd, UFFDIO_API, &api);
	int e = errno;
	close(fd);
	if (rc != 0)
		reply_err(e);
	else
		reply_u(api.features);
}

/*
 * smaps_rss_kb returns the Rss, in kB, of the mapping that is exactly
 * [start, end), from /proc/self/smaps; -1 when there is none (it merged
 * with a neighbour, say).
 */
static long smaps_rss_kb(uintptr_t start, uintptr_t end)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	if (f == NULL)
		return -1;
	char line[512];
	long rss = -1;
	int in = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = lo == start && hi == end;
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &rss) == 1)
			break;
	}
	fclose(f);
	return rss;
}

static void cmd_probe_zero_page(struct args *a)
{
	(void)a;
	/* Read-only: no writable anonymous neighbour of the executor's merges
	   with it, so that smaps shows it alone. */
	volatile uint8_t *p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		reply_err(errno);
		return;
	}
	(void)p[0];
	(void)p[PAGE];
	uint64_t ent[2] = {0, 0};
	int e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		e = errno;
	else {
		off_t off = (off_t)((uintptr_t)p / PAGE * sizeof(uint64_t));
		ssize_t n = pread(fd, ent, sizeof ent, off);
		if (n < 0)
			e = errno;
		else if (n != (ssize_t)sizeof ent)
			e = EIO;
		close(fd);
	}
	const uint64_t pfn_mask = (1ULL << 55) - 1, present = 1ULL << 63;
	uint64_t a0 = ent[0] & pfn_mask, a1 = ent[1] & pfn_mask;
	/* The zero page is not counted in a mapping's Rss (vm_normal_page
	   skips it), a page of its own is. */
	long rss = smaps_rss_kb((uintptr_t)p, (uintptr_t)p + 2 * PAGE);
	if (!e && (ent[0] & present) && (ent[1] & present) && (a0 == 0 || a1 == 0)) {
		/* PFNs are hidden without CAP_SYS_ADMIN: Rss alone tells. */
		munmap((void *)p, 2 * PAGE);
		if (rss < 0)
			reply_err(EPERM);
		else
			reply_u(rss == 0 ? 1 : 0);
		return;
	}
	munmap((void *)p, 2 * PAGE);
	if (e) {
		reply_err(e);
		return;
	}
	if (!(ent[0] & present) || !(ent[1] & present)) {
		reply_err(ENODATA);
		return;
	}
	/* Two PFNs and no Rss: zero pages by cache colour (s390's
	   ZERO_PAGE(vaddr) picks one of several by the address, as mips'). */
	reply_u(a0 == a1 || rss == 0 ? 1 : 0);
}

static void cmd_exit(struct args *a)
{
	(void)a;
	_exit(0);
}

/* ---- bench: faultline bench's workloads (see cmd/faultline/bench.go) ---- */

/*
 * bench WORKLOAD OPS THREADS runs one fault workload in this process (procs:
 * and THREADS-1 children), OPS
 * faults in all, and replies `ok NS FAULTS`: the nanoseconds its fault
 * phases took (CLOCK_MONOTONIC; setup and teardown, the mmap and munmap,
 * the fork, the file's writing, are not timed) and the minor plus major
 * faults the faulting threads took meanwhile (getrusage RUSAGE_THREAD
 * deltas, summed), so that the Go side can check that one op was one
 * fault. Memory is mapped BENCH_CHUNK pages at a time. Nothing here is
 * the scenario's: the command is for faultline bench alone, which runs it
 * in an executor of its own.
 */
#define BENCH_CHUNK 4096UL      /* pages per mapping: 16 MiB */
#define BENCH_AROUND 65536UL    /* fault_around_bytes' default: one read fault maps this much */
#define BENCH_MAX_THREADS 64
#define BENCH_MAX_OPS (1ULL << 26)

static uint64_t bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t bench_faults(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

/*
 * bench_map maps n fresh private anonymous pages, or returns NULL. They
 * are advised MADV_NOHUGEPAGE: every fault is then one 4 KiB page, as
 * the model's are, whatever transparent_hugepage (and its mTHP sizes) say.
 */
static volatile char *bench_map(uint64_t n)
{
	void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, n * PAGE, 15 /* MADV_NOHUGEPAGE */);
	return (volatile char *)p;
}

/* bench_write stores one byte per page: the timed loop of most workloads. */
static void __attribute__((noinline)) bench_write(volatile char *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		p[i * PAGE] = 1;
}

/* anon-write: write faults on fresh anonymous memory (do_anonymous_page). */
static int bench_anon(uint64_t ops, uint64_t *ns, uint64_t *faults)
{
	while (ops > 0) {
		uint64_t n = ops < BENCH_CHUNK ? ops : BENCH_CHUNK;
		volatile char *p = bench_map(n);
		if (p == NULL)
			return errno;
		uint64_t f0 = bench_faults(), t0 = bench_now();
		bench_write(p, n);
		uint64_t t1 = bench_now(), f1 = bench_faults();
		munmap((void *)p, n * PAGE);
		*ns += t1 - t0;
		*faults += f1 - f0;
		ops -= n;
	}
	return 0;
}

/*
 * cow-fork: write faults on private anonymous pages a forked child still
 * maps (do_wp_page copies each). The child only waits for the pipe to
 * close; warm takes the copies of the executor's own pages first.
 */
static int bench_cow(uint64_t ops, uint64_t *ns, uint64_t *faults)
{
	while (ops > 0) {
		uint64_t n = ops < BENCH_CHUNK ? ops : BENCH_CHUNK;
		volatile char *p = bench_map(n);
		if (p == NULL)
			return errno;
		bench_write(p, n);
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) != 0) {
			int e = errno;
			munmap((void *)p, n * PAGE);
			return e;
		}
		pid_t pid = fork();
		if (pid < 0) {
			int e = errno;
			close(fds[0]);
			close(fds[1]);
			munmap((void *)p, n * PAGE);
			return e;
		}
		if (pid == 0) {
			char c;
			close(fds[1]);
			while (read(fds[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		close(fds[0]);
		warm();
		uint64_t f0 = bench_faults(), t0 = bench_now();
		bench_write(p, n);
		uint64_t t1 = bench_now(), f1 = bench_faults();
		close(fds[1]);
		while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
			;
		munmap((void *)p, n * PAGE);
		*ns += t1 - t0;
		*faults += f1 - f0;
		ops -= n;
	}
	return 0;
}

/*
 * file-read-cached: read faults on a MAP_PRIVATE mapping of a file whose
 * pages are all in the page cache (a file in DIR, written, then read once
 * through a mapping). One load per fault-around window: each is one fault
 * (filemap_map_pages maps the window).
 */
static int bench_file(uint64_t ops, uint64_t *ns, uint64_t *faults)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/.bench-%d", g_dir, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof path)
		return ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	unlink(path); /* nothing to remove later, whatever happens */
	uint64_t size = BENCH_CHUNK * PAGE, stride = BENCH_AROUND > PAGE ? BENCH_AROUND : PAGE;
	int rc = fill_fd(fd, size, 0x5a);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	uint64_t per = size / stride; /* faults per pass */
	for (int warmup = 1; ops > 0; warmup = 0) {
		uint64_t k = warmup ? per : (ops < per ? ops : per);
		volatile char *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == (void *)MAP_FAILED) {
			int e = errno;
			close(fd);
			return e;
		}
		if (warmup) {
			for (uint64_t i = 0; i < size; i += PAGE)
				(void)p[i];
		} else {
			uint64_t f0 = bench_faults(), t0 = bench_now();
			for (uint64_t i = 0; i < k; i++)
				(void)p[i * stride];
			uint64_t t1 = bench_now(), f1 = bench_faults();
			*ns += t1 - t0;
			*faults += f1 - f0;
			ops -= k;
		}
		munmap((void *)p, size);
	}
	close(fd);
	return 0;
}

/* uffd-missing: a handler thread serving missing faults by UFFDIO_COPY. */
struct bench_uffd {
	int fd;
	uint64_t want; /* faults to serve */
	atomic_int stop;
	int err;
	char *src; /* one page */
};

static void *bench_uffd_handler(void *arg)
{
	struct bench_uffd *b = arg;
	uint64_t served = 0;
	while (served < b->want && !atomic_load(&b->stop)) {
		struct pollfd pfd = {.fd = b->fd, .events = POLLIN};
		int r = poll(&pfd, 1, 100);
		if (r <= 0)
			continue;
		struct uffd_msg msg;
		ssize_t got = read(b->fd, &msg, sizeof msg);
		if (got != (ssize_t)sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		struct uffdio_copy c = {
			.dst = msg.arg.pagefault.address & ~(uint64_t)(PAGE - 1),
			.src = (uint64_t)(uintptr_t)b->src,
			.len = PAGE,
		};
		if (ioctl(b->fd, UFFDIO_COPY, &c) != 0 && errno != EEXIST) {
			/* The fault must still be resolved, or its thread waits
			   for ever: a zero page, the error kept for the reply. */
			if (b->err == 0)
				b->err = errno;
			struct uffdio_zeropage z = {.range = {.start = c.dst, .len = PAGE}};
			if (ioctl(b->fd, UFFDIO_ZEROPAGE, &z) != 0 && errno != EEXIST) {
				fprintf(stderr, "executor: bench uffd-missing: UFFDIO_COPY and UFFDIO_ZEROPAGE failed: %s\n",
					strerror(errno));
				_exit(4); /* the Go side sees the connection close */
			}
		}
		served++;
	}
	return NULL;
}

/*
 * bench_uffd_open opens a userfaultfd: the syscall, then with
 * UFFD_USER_MODE_ONLY (what vm.unprivileged_userfaultfd=0 still allows),
 * then /dev/userfaultfd. Returns it or -errno (of the first attempt).
 */
static int bench_uffd_open(void)
{
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int e = errno;
	if (fd < 0)
		fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
	if (fd < 0)
		fd = uffd_new();
	if (fd < 0)
		return -e;
	struct uffdio_api api = {.api = UFFD_API};
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int bench_uffd(uint64_t ops, uint64_t *ns, uint64_t *faults)
{
	struct bench_uffd b = {.want = ops};
	b.fd = bench_uffd_open();
	if (b.fd < 0)
		return -b.fd;
	b.src = (char *)bench_map(1);
	if (b.src == NULL) {
		close(b.fd);
		return ENOMEM;
	}
	memset(b.src, 0x5a, PAGE);
	pthread_t th;
	int rc = pthread_create(&th, NULL, bench_uffd_handler, &b);
	if (rc != 0) {
		close(b.fd);
		munmap(b.src, PAGE);
		return rc;
	}
	while (ops > 0 && rc == 0) {
		uint64_t n = ops < BENCH_CHUNK ? ops : BENCH_CHUNK;
		volatile char *p = bench_map(n);
		if (p == NULL) {
			rc = errno;
			break;
		}
		struct uffdio_register reg = {
			.range = {.start = (uint64_t)(uintptr_t)p, .len = n * PAGE},
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(b.fd, UFFDIO_REGISTER, &reg) != 0) {
			rc = errno;
			munmap((void *)p, n * PAGE);
			break;
		}
		uint64_t f0 = bench_faults(), t0 = bench_now();
		bench_write(p, n);
		uint64_t t1 = bench_now(), f1 = bench_faults();
		munmap((void *)p, n * PAGE);
		*ns += t1 - t0;
		*faults += f1 - f0;
		ops -= n;
	}
	atomic_store(&b.stop, 1);
	pthread_join(th, NULL);
	close(b.fd);
	munmap(b.src, PAGE);
	return rc != 0 ? rc : b.err;
}

/*
 * threads: THREADS threads of this process, each writing fresh anonymous
 * pages of its own mapping (separate VMAs), OPS split between them. Each
 * round maps a chunk per thread, then times the writes from one barrier
 * to the next (the wall time of the slowest thread), then unmaps.
 */
struct bench_threads {
	pthread_barrier_t start, done;
	uint64_t rounds, ns;
	atomic_int err;
	atomic_uint_fast64_t faults;
};

struct bench_worker {
	struct bench_threads *g;
	uint64_t ops;
	int first; /* the timekeeper */
};

static void *bench_worker_run(void *arg)
{
	struct bench_worker *w = arg;
	struct bench_threads *g = w->g;
	volatile char window[16384];
	for (size_t i = 0; i < sizeof window; i += 512)
		window[i] = 0; /* the stack it uses, faulted before any count */
	uint64_t left = w->ops;
	for (uint64_t r = 0; r < g->rounds; r++) {
		uint64_t n = left < BENCH_CHUNK ? left : BENCH_CHUNK;
		volatile char *p = n > 0 ? bench_map(n) : NULL;
		if (n > 0 && p == NULL)
			atomic_store(&g->err, errno);
		pthread_barrier_wait(&g->start);
		uint64_t t0 = w->first ? bench_now() : 0;
		uint64_t f0 = bench_faults();
		if (p != NULL)
			bench_write(p, n);
		atomic_fetch_add(&g->faults, bench_faults() - f0);
		pthread_barrier_wait(&g->done);
		if (w->first)
			g->ns += bench_now() - t0;
		if (p != NULL)
			munmap((void *)p, n * PAGE);
		left -= n;
	}
	return NULL;
}

/* bench_split fills w with n workers sharing ops; returns the rounds. */
static uint64_t bench_split(struct bench_threads *g, struct bench_worker *w, int n, uint64_t ops)
{
	uint64_t each = ops / (uint64_t)n, extra = ops % (uint64_t)n;
	for (int i = 0; i < n; i++)
		w[i] = (struct bench_worker){.g = g, .ops = each + ((uint64_t)i < extra), .first = i == 0};
	return (w[0].ops + BENCH_CHUNK - 1) / BENCH_CHUNK;
}

static int bench_threads(uint64_t ops, int nthreads, uint64_t *ns, uint64_t *faults)
{
	struct bench_threads g = {.rounds = 0};
	struct bench_worker w[BENCH_MAX_THREADS];
	pthread_t th[BENCH_MAX_THREADS];
	g.rounds = bench_split(&g, w, nthreads, ops);
	pthread_barrier_init(&g.start, NULL, (unsigned)nthreads);
	pthread_barrier_init(&g.done, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&th[i], NULL, bench_worker_run, &w[i]) != 0) {
			/* The barriers would never open: end the process instead
			   of hanging (the Go side sees the connection close). */
			_exit(3);
		}
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&g.start);
	pthread_barrier_destroy(&g.done);
	*ns = g.ns;
	*faults = atomic_load(&g.faults);
	return atomic_load(&g.err);
}

/*
 * procs: as threads, but NPROCS single-threaded processes of one kernel
 * (this one and forked children), each with its own address space; the
 * barriers and counters live in a MAP_SHARED page. Each process first
 * takes the copies of the stack pages fork made copy-on-write (warm), so
 * that the faults counted are the workload's.
 */
static int bench_procs(uint64_t ops, int nprocs, uint64_t *ns, uint64_t *faults)
{
	struct bench_threads *g = mmap(NULL, sizeof *g, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		return errno;
	memset(g, 0, sizeof *g);
	struct bench_worker w[BENCH_MAX_THREADS];
	pid_t pids[BENCH_MAX_THREADS];
	g->rounds = bench_split(g, w, nprocs, ops);
	pthread_barrierattr_t ba;
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&g->start, &ba, (unsigned)nprocs);
	pthread_barrier_init(&g->done, &ba, (unsigned)nprocs);
	pthread_barrierattr_destroy(&ba);
	int rc = 0, started = 0;
	for (int i = 1; i < nprocs; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			rc = errno;
			break;
		}
		if (pid == 0) {
			warm();
			bench_worker_run(&w[i]);
			_exit(0);
		}
		pids[started++] = pid;
	}
	if (rc == 0) {
		warm();
		bench_worker_run(&w[0]);
	} else {
		for (int i = 0; i < started; i++)
			kill(pids[i], SIGKILL); /* waiting at a barrier that will not open */
	}
	for (int i = 0; i < started; i++)
		while (waitpid(pids[i], NULL, __WALL) < 0 && errno == EINTR)
			;
	*ns = g->ns;
	*faults = atomic_load(&g->faults);
	if (rc == 0)
		rc = atomic_load(&g->err);
	pthread_barrier_destroy(&g->start);
	pthread_barrier_destroy(&g->done);
	munmap(g, sizeof *g);
	return rc;
}

static void cmd_bench(struct args *a)
{
	uint64_t ops = arg_max(a, 2, BENCH_MAX_OPS);
	int nthreads = (int)arg_max(a, 3, BENCH_MAX_THREADS);
	if (a->bad)
		return;
	if (ops == 0 || nthreads == 0) {
		reply("proto bench: OPS and THREADS must be at least 1");
		return;
	}
	const char *wl = a->w[1];
	uint64_t ns = 0, faults = 0;
	int rc;
	bench_now();
	bench_faults(); /* the vDSO and getrusage paths, faulted before any count */
	if (strcmp(wl, "threads") == 0)
		rc = bench_threads(ops, nthreads, &ns, &faults);
	else if (strcmp(wl, "procs") == 0)
		rc = bench_procs(ops, nthreads, &ns, &faults);
	else if (nthreads != 1) {
		reply("proto bench: THREADS must be 1 for %.32s", wl);
		return;
	} else if (strcmp(wl, "anon-write") == 0)
		rc = bench_anon(ops, &ns, &faults);
	else if (strcmp(wl, "cow-fork") == 0)
		rc = bench_cow(ops, &ns, &faults);
	else if (strcmp(wl, "file-read-cached") == 0)
		rc = bench_file(ops, &ns, &faults);
	else if (strcmp(wl, "uffd-missing") == 0)
		rc = bench_uffd(ops, &ns, &faults);
	else {
		reply("proto bench: unknown workload '%.32s'", wl);
		return;
	}
	if (rc != 0)
		reply_err(rc);
	else
		reply("ok %" PRIu64 " %" PRIu64, ns, faults);
}

/* ---- dispatch ---- */

static const struct command {
	const char *name;
	int nargs;
	void (*fn)(struct args *);
	const char *usage;
} commands[] = {
	{"mmap", 6, cmd_mmap, "mmap LEN PROT FLAGS ADDR FILE OFF"},
	{"munmap", 2, cmd_munmap, "munmap ADDR LEN"},
	{"mprotect", 3, cmd_mprotect, "mprotect ADDR LEN PROT"},
	{"madvise", 3, cmd_madvise, "madvise ADDR LEN ADVICE"},
	{"file", 3, cmd_file, "file NAME SIZE FILL"},
	{"truncate", 2, cmd_truncate, "truncate NAME SIZE"},
	{"rlimit_stack", 1, cmd_rlimit_stack, "rlimit_stack SIZE"},
	{"read", 1, cmd_read, "read ADDR"},
	{"write", 2, cmd_write, "write ADDR VALUE"},
	{"exec", 1, cmd_exec, "exec ADDR"},
	{"touch", 3, cmd_touch, "touch ADDR SIZE r|w"},
	{"kread", 3, cmd_kread, "kread ADDR SIZE FILL"},
	{"kwrite", 2, cmd_kwrite, "kwrite ADDR SIZE"},
	{"thread", 2, cmd_thread, "thread NAME SLOT"},
	{"fork", 2, cmd_fork, "fork NAME SLOT"},
	{"sigaction", 2, cmd_sigaction, "sigaction SIG catch|ignore|default"},
	{"kill", 3, cmd_kill, "kill PID TID SIG"},
	{"caught", 2, cmd_caught, "caught SLOT SIG"},
	{"faults", 0, cmd_faults, "faults"},
	{"uffd_open", 2, cmd_uffd_open, "uffd_open U FEATURES"},
	{"uffd_register", 4, cmd_uffd_register, "uffd_register U ADDR LEN MODE"},
	{"uffd_unregister", 3, cmd_uffd_unregister, "uffd_unregister U ADDR LEN"},
	{"uffd_event", 2, cmd_uffd_event, "uffd_event U TIMEOUT_MS"},
	{"uffd_copy", 4, cmd_uffd_copy, "uffd_copy U ADDR LEN FILL"},
	{"uffd_zeropage", 3, cmd_uffd_zeropage, "uffd_zeropage U ADDR LEN"},
	{"uffd_poison", 3, cmd_uffd_poison, "uffd_poison U ADDR LEN"},
	{"uffd_continue", 3, cmd_uffd_continue, "uffd_continue U ADDR LEN"},
	{"uffd_wake", 3, cmd_uffd_wake, "uffd_wake U ADDR LEN"},
	{"uffd_wp", 4, cmd_uffd_wp, "uffd_wp U ADDR LEN ON"},
	{"uffd_close", 1, cmd_uffd_close, "uffd_close U"},
	{"probe_guard", 0, cmd_probe_guard, "probe_guard"},
	{"probe_uffd", 0, cmd_probe_uffd, "probe_uffd"},
	{"probe_zero_page", 0, cmd_probe_zero_page, "probe_zero_page"},
	{"warm", 0, cmd_warm, "warm"},
	{"evict", 1, cmd_evict, "evict NAME"},
	{"exit", 0, cmd_exit, "exit"},
	{"bench", 3, cmd_bench, "bench WORKLOAD OPS THREADS"},
};

static void dispatch(char *line, size_t len)
{
	char *w[MAX_WORDS];
	int n = 0;
	if (memchr(line, 0, len) != NULL) {
		reply("proto NUL byte in command");
		return;
	}
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = 0;
	for (char *p = line; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == 0)
			break;
		if (n == MAX_WORDS) {
			reply("proto too many words");
			return;
		}
		w[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = 0;
	}
	if (n == 0) {
		reply("proto empty command");
		return;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		const struct command *c = &commands[i];
		if (strcmp(c->name, w[0]) != 0)
			continue;
		if (n - 1 != c->nargs) {
			reply("proto usage: %s", c->usage);
			return;
		}
		struct args a = {.n = n, .w = w, .bad = 0};
		c->fn(&a);
		return;
	}
	reply("proto unknown command '%.64s'", w[0]);
}

static void serve(void)
{
	char line[LINE_CAP + 1];
	for (;;) {
		int n = read_line(line);
		if (n == -1)
			return;
		if (n == -2) {
			reply("proto line too long");
			continue;
		}
		dispatch(line, (size_t)n);
	}
}

/*
 * watchdog is `executor --watchdog`: the lifeline of one run. The Go side
 * starts it before actor main, as the leader of a new process group that
 * main joins and every fork inherits, with the read end of a pipe as
 * descriptor 3; the write end stays in the driver only (close-on-exec).
 * No one ever writes to it, so read() returns only when the driver has
 * closed it or died (the kernel closes a dead process's descriptors, even
 * after SIGKILL): the watchdog then SIGKILLs its process group, itself and
 * every executor process. It is started by the driver, not forked by main,
 * so that it is no scenario process's child (no SIGCHLD, nothing for a
 * wait to see) and main's memory is never made copy-on-write by it; it is
 * a process of its own, so no scenario process gets an extra thread.
 */
static int watchdog(void)
{
	close_from(4); /* keep 0-2 and the lifeline */
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL); /* only SIGKILL ends it early */
	char c;
	for (;;) {
		ssize_t r = read(3, &c, 1);
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
	kill(0, SIGKILL); /* kill_pgrp: every process of the group, this one too */
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--watchdog") == 0)
		return watchdog();
	if (argc != 3) {
		fprintf(stderr, "usage: executor SOCK DIR | executor --watchdog\n");
		return 2;
	}
	/* Descriptors it did not open are not the scenario's and must not
	   outlive the run in a leftover process (an inherited lock, say):
	   close them all. Everything the executor opens is O_CLOEXEC. */
	close_from(3);
	const char *sc = getenv("FAULTLINE_TIMEOUT_SCALE");
	if (sc != NULL) {
		double v = strtod(sc, NULL);
		if (v >= 1 && v <= 1e4)
			g_scale = v;
	}
	long pg = sysconf(_SC_PAGESIZE);
	if (pg >= 4096 && (pg & (pg - 1)) == 0)
		g_page = (uint64_t)pg;
	g_sock = argv[1];
	g_dir = argv[2];
	g_counts = mmap(NULL, MAX_SLOTS * sizeof *g_counts, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_counts == MAP_FAILED)
		die("mmap counters");
	for (int i = 0; i < MAX_UFFD; i++)
		g_uffd[i].fd = -1;

	/* A clean signal state: every disposition default, nothing blocked. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int s = 1; s < _NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL); /* fails harmlessly for libc's own */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	install_fault_handler(SIGSEGV);
	install_fault_handler(SIGBUS);

	/* Fault in the executor's text, data and libraries once, so that the
	   faults a scenario counts are its own (a fault while touching executor
	   code for the first time would count too). */
	if (mlockall(MCL_CURRENT) == 0)
		munlockall();
	record_own_bss();
	setup_altstack();
	atomic_store(&g_actors, 1);
	actor_run("main");
}
