//go:build linux

package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/timeout"
)

// Every wait in these tests is bounded, so that a broken executor fails the
// tests in seconds instead of hanging them: one command waits at most
// cmdTimeout, and once a test has failed (broken is set) the others wait
// at most brokenTimeout: a broken executor costs one long wait per test
// running in parallel, then short ones.
// The first two honour FAULTLINE_TIMEOUT_SCALE, as the package's own
// bounds do.
var (
	cmdTimeout       = timeout.Default().Of(3 * time.Second)
	testStartTimeout = timeout.Default().Of(5 * time.Second)
)

const brokenTimeout = 200 * time.Millisecond

var broken atomic.Bool

// bounded returns d, or brokenTimeout if that is shorter and a test failed.
func bounded(d time.Duration) time.Duration {
	if broken.Load() {
		return min(d, brokenTimeout)
	}
	return d
}

const (
	protRW      = syscall.PROT_READ | syscall.PROT_WRITE
	privateAnon = syscall.MAP_PRIVATE | syscall.MAP_ANONYMOUS
	sharedAnon  = syscall.MAP_SHARED | syscall.MAP_ANONYMOUS
	page        = 4096
)

func TestMain(m *testing.M) {
	if os.Getenv(driverEnv) != "" {
		os.Exit(testDriver())
	}
	// Build into a private cache, so that the test builds what it tests.
	// Build trusts a cache only where no one else can write on the way
	// (not under /tmp): make it in the user's own cache directory.
	cache, err := trustedTemp("faultline-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	os.Exit(code)
}

// trustedTemp makes a fresh directory where Build may trust a cache: in
// the user's cache directory, else in the package's directory.
func trustedTemp(pattern string) (string, error) {
	var bases []string
	if c, err := os.UserCacheDir(); err == nil {
		bases = append(bases, c)
	}
	if wd, err := os.Getwd(); err == nil {
		bases = append(bases, wd)
	}
	for _, base := range bases {
		os.MkdirAll(base, 0o700)
		dir, err := os.MkdirTemp(base, pattern)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(dir); err == nil && TrustedDir(real) == nil {
			return real, nil
		}
		os.RemoveAll(dir)
	}
	return "", errors.New("no directory Build can trust for its cache (the user's cache directory and the package's are writable by others)")
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func executorBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout.Default().Of(60*time.Second))
		defer cancel()
		buildPath, buildErr = Build(ctx)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// session is one executor for one test.
type session struct {
	t    *testing.T
	e    *Executor
	main *Actor
}

func start(t *testing.T) *session {
	t.Helper()
	t.Parallel()
	t.Cleanup(func() {
		if t.Failed() {
			broken.Store(true)
		}
	})
	bin := executorBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), bounded(testStartTimeout))
	defer cancel()
	e, err := Start(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			broken.Store(true)
		}
	})
	main, err := e.Actor("main", bounded(cmdTimeout))
	if err != nil {
		t.Fatal(err)
	}
	return &session{t: t, e: e, main: main}
}

func (s *session) actor(name string) *Actor {
	s.t.Helper()
	a, err := s.e.Actor(name, bounded(cmdTimeout))
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

// do runs one command and fails the test unless it replied.
func (s *session) do(a *Actor, format string, args ...any) Reply {
	s.t.Helper()
	cmd := fmt.Sprintf(format, args...)
	r, err := a.Do(cmd, bounded(cmdTimeout))
	if err != nil {
		broken.Store(true)
		s.t.Fatalf("%s: %s: %v (executor log: %q)", a.Name, cmd, err, s.e.Log())
	}
	return r
}

// want runs one command and checks its reply line.
func (s *session) want(a *Actor, want string, format string, args ...any) Reply {
	s.t.Helper()
	r := s.do(a, format, args...)
	if r.Line != want {
		s.t.Fatalf("%s: %s => %q, want %q", a.Name, fmt.Sprintf(format, args...), r.Line, want)
	}
	return r
}

// ok runs one command that must succeed and returns its values.
func (s *session) ok(a *Actor, format string, args ...any) []uint64 {
	s.t.Helper()
	r := s.do(a, format, args...)
	if r.Kind != "ok" {
		s.t.Fatalf("%s: %s => %q, want ok", a.Name, fmt.Sprintf(format, args...), r.Line)
	}
	return r.Vals
}

func (s *session) mmap(a *Actor, size, prot, flags int) uint64 {
	s.t.Helper()
	v := s.ok(a, "mmap %d %d %d 0x0 - 0", size, prot, flags)
	if len(v) != 1 || v[0] == 0 {
		s.t.Fatalf("mmap: bad reply %v", v)
	}
	return v[0]
}

func sig(signo, code int, addr uint64) string {
	return fmt.Sprintf("sig %d %d %#x 0", signo, code, addr)
}

const (
	segvMaperr = 1
	segvAccerr = 2
	siKernel   = 128
)

func TestBuildReusesAndCompilesCleanly(t *testing.T) {
	bin := executorBin(t)
	before, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(context.Background())
	if err != nil || again != bin {
		t.Fatalf("second Build = %q, %v; want %q", again, err, bin)
	}
	if after, err := os.Stat(bin); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second Build rewrote the executor (%v): not reused", err)
	}
	// The exact build line of the brief, -Werror included.
	cc, err := compiler()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "executor.c")
	if err := os.WriteFile(src, executorSource, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout.Default().Of(60*time.Second))
	defer cancel()
	args := append(cc[1:], "-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", filepath.Join(dir, "x"), src)
	if out, err := exec.CommandContext(ctx, cc[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("cc -Werror: %v\n%s", err, out)
	}
}

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Reply
	}{
		{"ok", Reply{Kind: "ok"}},
		{"ok 0x7f0000001000", Reply{Kind: "ok", Vals: []uint64{0x7f0000001000}}},
		{"ok 12 3", Reply{Kind: "ok", Vals: []uint64{12, 3}}},
		{"err 14", Reply{Kind: "err", Errno: syscall.EFAULT}},
		{"sig 11 -6 0x0 0", Reply{Kind: "sig", Signo: 11, Code: -6}},
		{"sig 7 4 0x1000 12", Reply{Kind: "sig", Signo: 7, Code: 4, Addr: 0x1000, LSB: 12}},
		{"event 0x1000 3", Reply{Kind: "event", Addr: 0x1000, Flags: 3}},
		{"proto unknown command 'x'", Reply{Kind: "proto", Text: "unknown command 'x'"}},
	} {
		r, err := ParseReply(tc.line)
		tc.want.Line = tc.line
		if err != nil || fmt.Sprint(r) != fmt.Sprint(tc.want) || r.Kind != tc.want.Kind || r.Text != tc.want.Text ||
			fmt.Sprint(r.Vals) != fmt.Sprint(tc.want.Vals) || r.Errno != tc.want.Errno || r.Signo != tc.want.Signo ||
			r.Code != tc.want.Code || r.Addr != tc.want.Addr || r.LSB != tc.want.LSB || r.Flags != tc.want.Flags {
			t.Errorf("ParseReply(%q) = %+v, %v; want %+v", tc.line, r, err, tc.want)
		}
	}
	for _, bad := range []string{"", "hello", "ok x", "err", "err x", "sig 11 1 0x0", "event 0x1", "ok -1"} {
		if _, err := ParseReply(bad); err == nil {
			t.Errorf("ParseReply(%q): no error", bad)
		}
	}
}

func TestAnonWriteReadBack(t *testing.T) {
	s := start(t)
	m := s.main
	a := s.mmap(m, 2*page, protRW, privateAnon)
	s.want(m, "ok", "write %#x 171", a+8)
	s.want(m, "ok 171", "read %#x", a+8)
	s.want(m, "ok 0", "read %#x", a+page)
	// touch stops at the first page that faults.
	s.want(m, "ok", "munmap %#x %d", a+page, page)
	s.want(m, sig(11, segvMaperr, a+page), "touch %#x %d w", a, 3*page)
	s.want(m, "ok 65", "read %#x", a)
	if v := s.ok(m, "faults"); len(v) != 2 || v[0] == 0 {
		t.Errorf("faults = %v, want two numbers, minor faults > 0", v)
	}
}

func TestUserFaults(t *testing.T) {
	s := start(t)
	m := s.main
	a := s.mmap(m, 2*page, protRW, privateAnon)
	s.want(m, "ok", "munmap %#x %d", a+page, page)
	s.want(m, sig(11, segvMaperr, a+0x1010), "read %#x", a+0x1010)                // unmapped_read
	s.want(m, sig(11, segvMaperr, a+0x1010), "write %#x 1", a+0x1010)             // unmapped_write
	s.want(m, sig(11, segvMaperr, 0), "read 0x0")                                 // null_read
	s.want(m, sig(11, segvMaperr, 0x7f0), "read 0x7f0")                           // null_page_offset_read
	s.want(m, sig(11, siKernel, 0), "read 0x8000000000000000")                    // noncanonical_read
	s.want(m, sig(11, siKernel, 0), "write 0x8000000000000000 1")                 // noncanonical_write
	s.want(m, sig(11, siKernel, 0), "exec 0x8000000000000000")                    // noncanonical_exec
	s.want(m, sig(11, segvMaperr, 0xffff800000000000), "read 0xffff800000000000") // kernel_half_read

	ro := s.mmap(m, page, syscall.PROT_READ, privateAnon)
	s.want(m, sig(11, segvAccerr, ro+0x20), "write %#x 1", ro+0x20) // prot_read_write
	s.want(m, "ok 0", "read %#x", ro)
	none := s.mmap(m, page, syscall.PROT_NONE, privateAnon)
	s.want(m, sig(11, segvAccerr, none+0x20), "read %#x", none+0x20) // prot_none_read
	rw := s.mmap(m, page, protRW, privateAnon)
	s.want(m, "ok", "write %#x 195", rw+0x20)
	s.want(m, sig(11, segvAccerr, rw+0x20), "exec %#x", rw+0x20) // prot_rw_exec
	rx := s.mmap(m, page, protRW, privateAnon)
	s.want(m, "ok", "write %#x 195", rx) // ret
	s.want(m, "ok", "mprotect %#x %d %d", rx, page, syscall.PROT_READ|syscall.PROT_EXEC)
	s.want(m, "ok", "exec %#x", rx) // prot_rx_exec

	// The executor goes on after all these faults.
	s.want(m, "ok 195", "read %#x", rw+0x20)
}

func TestGuardRegion(t *testing.T) {
	s := start(t)
	m := s.main
	if r := s.do(m, "probe_guard"); r.Kind != "ok" {
		t.Skipf("MADV_GUARD_INSTALL not supported here: %s", r)
	}
	a := s.mmap(m, 3*page, protRW, privateAnon)
	s.want(m, "ok", "write %#x 103", a+2*page)
	s.want(m, "ok", "madvise %#x %d 102", a+page, page)
	s.want(m, sig(11, segvMaperr, a+0x1030), "read %#x", a+0x1030) // guard_read
	s.want(m, sig(11, segvMaperr, a+0x1030), "write %#x 1", a+0x1030)
	s.want(m, "ok 103", "read %#x", a+2*page) // guard_neighbour_read
	s.want(m, "err 14", "kread %#x %d 1", a+page, page)
}

func TestVsyscall(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil || !strings.Contains(string(maps), "[vsyscall]") {
		t.Skip("no [vsyscall] mapping on this host")
	}
	s := start(t)
	m := s.main
	s.want(m, "ok", "exec 0xffffffffff600000")                                    // vsyscall_exec_gettimeofday
	s.want(m, "ok", "exec 0xffffffffff600400")                                    // vsyscall_exec_time
	s.want(m, sig(11, siKernel, 0), "exec 0xffffffffff600001")                    // vsyscall_exec_misaligned
	s.want(m, sig(11, segvMaperr, 0xffffffffff600000), "read 0xffffffffff600000") // vsyscall_read (xonly)
	s.want(m, sig(11, segvMaperr, 0xffffffffff601000), "exec 0xffffffffff601000") // vsyscall_exec_next_page
}

func TestKernelCopies(t *testing.T) {
	s := start(t)
	m := s.main
	a := s.mmap(m, 2*page, protRW, privateAnon)
	s.want(m, "ok 4096", "kread %#x %d 97", a, page) // full
	s.want(m, "ok 97", "read %#x", a+page-1)
	s.want(m, "ok 4096", "kwrite %#x %d", a, page)
	s.want(m, "ok", "mprotect %#x %d 0", a+page, page)
	s.want(m, "ok 100", "kread %#x %d 98", a+page-100, page) // short count
	s.want(m, "ok 98", "read %#x", a+page-100)
	s.want(m, "ok 100", "kwrite %#x %d", a+page-100, page)
	s.want(m, "err 14", "kread %#x %d 1", a+page, 16) // EFAULT: nothing copied
	s.want(m, "err 14", "kwrite %#x %d", a+page, 16)
	s.want(m, "err 14", "kread 0x0 16 1")
	s.want(m, "err 14", "kread 0x8000000000000000 16 1")
	ro := s.mmap(m, page, syscall.PROT_READ, privateAnon)
	s.want(m, "err 14", "kread %#x 16 1", ro) // read_file_into_prot_read

	// Files in DIR, mapped.
	s.want(m, "ok", "file f %d 102", 2*page)
	fa := s.ok(m, "mmap %d %d %d 0x0 f 0", 2*page, syscall.PROT_READ, syscall.MAP_SHARED)[0]
	s.want(m, "ok 102", "read %#x", fa+page)
	s.want(m, "ok", "truncate f %d", page)
	s.want(m, fmt.Sprintf("sig 7 2 %#x 0", fa+page+16), "read %#x", fa+page+16) // SIGBUS BUS_ADRERR beyond EOF
	if _, err := os.Stat(filepath.Join(s.e.Dir(), "f")); err != nil {
		t.Errorf("file f not in Dir(): %v", err)
	}
}

func TestForkCOWAndShared(t *testing.T) {
	s := start(t)
	m := s.main
	priv := s.mmap(m, page, protRW, privateAnon)
	shared := s.mmap(m, page, protRW, sharedAnon)
	s.want(m, "ok", "write %#x 17", priv)
	s.want(m, "ok", "write %#x 17", shared)
	pid := s.ok(m, "fork c 1")[0]
	c := s.actor("c")
	if c.PID != int(pid) || c.TID != int(pid) {
		t.Fatalf("child hello %d/%d, fork said %d", c.PID, c.TID, pid)
	}
	s.want(c, "ok", "write %#x 34", priv)
	s.want(c, "ok 34", "read %#x", priv)
	s.want(m, "ok 17", "read %#x", priv) // anon_fork_cow_child_writes
	s.want(c, "ok", "write %#x 66", shared)
	s.want(m, "ok 66", "read %#x", shared) // anon_shared_fork
	// The child has its own uffd table and signal counters.
	s.want(c, "err 9", "uffd_event u 0")
	s.want(c, "ok 0", "caught 1 10")
	// exit ends the child: no reply, the connection closes, status 0.
	if _, err := c.Do("exit", bounded(cmdTimeout)); !errors.Is(err, ErrGone) {
		t.Fatalf("exit: %v, want ErrGone", err)
	}
	ws, ok := s.e.ExitStatus(int(pid), bounded(cmdTimeout))
	if !ok || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child exit status %v %v, want exited 0", ws, ok)
	}
	s.want(m, "ok 66", "read %#x", shared)
}

func TestThreadSharesMemory(t *testing.T) {
	s := start(t)
	m := s.main
	a := s.mmap(m, page, protRW, privateAnon)
	s.want(m, "ok", "write %#x 7", a)
	s.want(m, "ok", "thread t 1")
	th := s.actor("t")
	if th.PID != m.PID || th.TID == m.TID {
		t.Fatalf("thread hello pid %d tid %d; main %d %d", th.PID, th.TID, m.PID, m.TID)
	}
	s.want(th, "ok 7", "read %#x", a)
	s.want(th, sig(11, segvMaperr, 0), "read 0x0") // faults are per thread
	s.want(th, "ok", "munmap %#x %d", a, page)
	s.want(m, sig(11, segvMaperr, a), "read %#x", a) // thread-munmap-seen
}

func TestSignals(t *testing.T) {
	s := start(t)
	m := s.main
	s.want(m, "ok", "sigaction 10 catch")
	s.want(m, "ok", "kill %d %d 10", m.PID, m.TID)
	s.want(m, "ok 1", "caught 0 10")
	s.want(m, "ok", "thread t 1")
	th := s.actor("t")
	s.want(th, "ok", "kill %d %d 10", m.PID, th.TID)
	s.want(th, "ok 1", "caught 1 10")
	s.want(m, "ok 1", "caught 0 10") // counters are per thread
	s.want(m, "ok 1", "caught 1 10") // and any actor reads any actor's
	s.want(m, "ok", "sigaction 10 ignore")
	s.want(m, "ok", "kill %d %d 10", m.PID, m.TID)
	s.want(m, "ok 1", "caught 0 10")
	s.want(m, "err 22", "sigaction 9 catch")
	// SIGSEGV sent by kill, with the emulated disposition catch.
	s.want(m, "ok", "sigaction 11 catch")
	s.want(m, "ok", "kill %d %d 11", m.PID, m.TID)
	s.want(m, "ok 1", "caught 0 11")

	// Default SIGUSR1 kills a forked child; its waiter reports it.
	pid := s.ok(m, "fork c 2")[0]
	c := s.actor("c")
	s.want(c, "ok", "sigaction 10 default")
	s.want(m, "ok", "kill %d %d 10", pid, pid)
	if _, err := c.Do("read 0x0", bounded(cmdTimeout)); !errors.Is(err, ErrGone) {
		t.Fatalf("child after SIGUSR1: %v, want ErrGone", err)
	}
	if ws, ok := s.e.ExitStatus(int(pid), bounded(cmdTimeout)); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGUSR1 {
		t.Fatalf("child status %v %v, want killed by SIGUSR1", ws, ok)
	}
}

func TestKillForkedChild(t *testing.T) {
	s := start(t)
	m := s.main
	pid := s.ok(m, "fork c 1")[0]
	c := s.actor("c")
	s.want(c, "ok 0", "read %#x", s.mmap(c, page, protRW, privateAnon))
	s.want(m, "ok", "kill %d %d 9", pid, pid)
	if _, err := c.Do("faults", bounded(cmdTimeout)); !errors.Is(err, ErrGone) {
		t.Fatalf("killed child: %v, want ErrGone", err)
	}
	if !c.Gone() {
		t.Error("Gone() = false after ErrGone")
	}
	ws, ok := s.e.ExitStatus(int(pid), bounded(cmdTimeout))
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child status %#x %v, want signaled 9", ws, ok)
	}
	s.want(m, "ok 0", "caught 0 9") // main goes on
}

func TestUserfaultfd(t *testing.T) {
	s := start(t)
	m := s.main
	r := s.do(m, "uffd_open u 0")
	if r.Kind == "err" && (r.Errno == syscall.EPERM || r.Errno == syscall.ENOSYS || r.Errno == syscall.EACCES) {
		t.Skipf("no userfaultfd here: %s", r)
	}
	if r.Line != "ok 0" {
		t.Fatalf("uffd_open u 0 => %q", r.Line)
	}
	s.want(m, "proto uffd_open: handle already open", "uffd_open u 0")
	features := s.ok(m, "probe_uffd")[0]
	a := s.mmap(m, 2*page, protRW, privateAnon)
	ioctls := s.ok(m, "uffd_register u %#x %d 1", a+page, page)[0]
	if ioctls&(1<<3) == 0 { // _UFFDIO_COPY
		t.Fatalf("register ioctls %#x lack COPY", ioctls)
	}
	s.want(m, "err 110", "uffd_event u 0") // nothing yet: ETIMEDOUT
	s.want(m, "ok", "thread r 1")
	rd := s.actor("r")
	if _, err := rd.Do(fmt.Sprintf("read %#x", a+page+0x40), 200*time.Millisecond); !errors.Is(err, ErrPending) {
		t.Fatalf("read of a missing page: %v, want ErrPending", err)
	}
	if _, err := rd.Do("faults", time.Millisecond); err == nil {
		t.Fatal("Do while a command is pending did not fail")
	}
	s.want(m, fmt.Sprintf("event %#x 0", a+page), "uffd_event u %d", 2000) // uffd_missing_copy_read
	s.want(m, "ok 4096", "uffd_copy u %#x %d 171", a+page, page)
	r, err := rd.Reply(bounded(cmdTimeout))
	if err != nil || r.Line != "ok 171" {
		t.Fatalf("blocked read after UFFDIO_COPY: %q %v, want ok 171", r.Line, err)
	}
	if _, err := rd.Reply(time.Millisecond); err == nil {
		t.Error("Reply with nothing pending did not fail")
	}
	s.want(m, "ok 171", "read %#x", a+page)

	// A write fault reports WRITE; zeropage resolves it.
	b := s.mmap(m, page, protRW, privateAnon)
	s.ok(m, "uffd_register u %#x %d 1", b, page)
	if _, err := rd.Do(fmt.Sprintf("write %#x 90", b+8), 200*time.Millisecond); !errors.Is(err, ErrPending) {
		t.Fatalf("write to a missing page: %v, want ErrPending", err)
	}
	s.want(m, fmt.Sprintf("event %#x 1", b), "uffd_event u 2000") // uffd_missing_copy_write: flags WRITE
	s.want(m, "ok 4096", "uffd_zeropage u %#x %d", b, page)
	if r, err := rd.Reply(bounded(cmdTimeout)); err != nil || r.Line != "ok" {
		t.Fatalf("blocked write after ZEROPAGE: %q %v", r.Line, err)
	}
	s.want(m, "ok 90", "read %#x", b+8)

	if features&(1<<14) != 0 { // UFFD_FEATURE_POISON
		c := s.mmap(m, page, protRW, privateAnon)
		s.ok(m, "uffd_register u %#x %d 1", c, page)
		s.want(m, "ok 4096", "uffd_poison u %#x %d", c, page)
		s.want(m, fmt.Sprintf("sig 7 2 %#x 0", c+0x48), "read %#x", c+0x48) // uffd_poison_user_read (no MEMORY_FAILURE: BUS_ADRERR)
		s.want(m, "err 17", "uffd_poison u %#x %d", a+page, page)           // uffd_poison_populated
	}
	s.want(m, "ok", "uffd_unregister u %#x %d", a+page, page)
	s.want(m, "ok", "uffd_close u")
	s.want(m, "err 9", "uffd_close u")
	s.want(m, "err 9", "uffd_copy nope 0x1000 4096 0")
}

func TestBlockedCommandAndClose(t *testing.T) {
	s := start(t)
	m := s.main
	r := s.do(m, "uffd_open u 0")
	if r.Kind != "ok" {
		t.Skipf("no userfaultfd here: %s", r)
	}
	a := s.mmap(m, page, protRW, privateAnon)
	s.ok(m, "uffd_register u %#x %d 1", a, page)
	// Nobody serves the fault: main blocks forever.
	if _, err := m.Do(fmt.Sprintf("read %#x", a), 200*time.Millisecond); !errors.Is(err, ErrPending) {
		t.Fatalf("blocked read: %v, want ErrPending", err)
	}
	if _, err := m.Reply(100 * time.Millisecond); !errors.Is(err, ErrPending) {
		t.Fatalf("Reply: %v, want ErrPending", err)
	}
	pid := s.e.PID()
	root := s.e.root
	if err := s.e.Close(); err != nil { // bounded: it reports a process that would not die
		t.Fatalf("Close: %v", err)
	}
	if err := s.e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("executor %d still exists after Close: kill 0 = %v", pid, err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("directory %s still exists after Close: %v", root, err)
	}
	if _, err := m.Reply(time.Second); !errors.Is(err, ErrGone) {
		t.Errorf("Reply after Close: %v, want ErrGone", err)
	}
	ws, ok := s.e.ExitStatus(pid, time.Second)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("main status %v %v, want killed by SIGKILL", ws, ok)
	}
}

func TestMalformedCommands(t *testing.T) {
	s := start(t)
	m := s.main
	for _, cmd := range []string{
		"bogus",
		"",
		"read",
		"read zz",
		"read -1",
		"read 0x",
		"read 0x10000000000000000",
		"read 99999999999999999999",
		"write 0x1000 256",
		"touch 0x1000 4096 x",
		"mmap 4096 3 34 0 ../etc 0",
		"mmap 4096 0x100000000 34 0 - 0",
		"kill 1 1 65",
		"kill 99999999999 1 1",
		"sigaction 10 maybe",
		"caught 0",
		"thread",
		"fork a b",
		"thread @waiter",
		"file a/b 1 0",
		"file x 1 256",
		"kread 0x1000 0x100000000 0",
		"a b c d e f g h i j k l",
		strings.Repeat("x", 5000),
	} {
		r := s.do(m, "%s", cmd)
		if r.Kind != "proto" {
			t.Errorf("%q => %q, want proto", cmd, r.Line)
		}
	}
	s.want(m, "err 2", "mmap 4096 3 2 0 missing 0") // ENOENT
	s.want(m, "err 22", "kill %d 0 10", m.PID)      // tgkill with TID 0
	s.want(m, "ok 0", "caught 0 10")                // still serving
}

func TestProbes(t *testing.T) {
	s := start(t)
	m := s.main
	r := s.do(m, "probe_zero_page")
	if r.Line != "ok 0" && r.Line != "ok 1" {
		t.Errorf("probe_zero_page => %q", r.Line)
	}
	t.Logf("probe_zero_page: %s (1: shared zero page)", r)
	r = s.do(m, "probe_uffd")
	t.Logf("probe_uffd: %s", r)
	if r.Kind != "ok" && r.Kind != "err" {
		t.Errorf("probe_uffd => %q", r.Line)
	}
	r = s.do(m, "probe_guard")
	t.Logf("probe_guard: %s", r)
	s.want(m, "ok", "rlimit_stack %d", 4<<20)
}

func TestMainExit(t *testing.T) {
	s := start(t)
	m := s.main
	s.want(m, "ok", "thread t 1")
	th := s.actor("t")
	if _, err := th.Do("exit", bounded(cmdTimeout)); !errors.Is(err, ErrGone) {
		t.Fatalf("exit: %v, want ErrGone", err)
	}
	if _, err := m.Do("faults", bounded(cmdTimeout)); !errors.Is(err, ErrGone) {
		t.Fatalf("main after the process exited: %v, want ErrGone", err)
	}
	ws, ok := s.e.ExitStatus(s.e.PID(), bounded(cmdTimeout))
	if !ok || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("main status %v %v, want exit 0", ws, ok)
	}
}

func TestStartWithoutHello(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ script, want string }{
		{"exec sleep 100", "did not say hello"},
		{"echo broken >&2; exit 3", "exit status 3"},
	} {
		bin := filepath.Join(dir, "fake")
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), bounded(300*time.Millisecond))
		t0 := time.Now()
		e, err := Start(ctx, bin)
		cancel()
		if err == nil {
			e.Close()
			t.Fatalf("%s: Start succeeded", tc.script)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Start: %v, want %q", tc.script, err, tc.want)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("%s: Start took %v", tc.script, d)
		}
	}
}

// TestNoFaultsOfItsOwn: between two commands the executor itself takes no
// page faults, in a forked child too (fork drops the entries of its code,
// and makes its stack and thread-local pages copy-on-write), so that a
// scenario's fault counts are the scenario's alone.
func TestNoFaultsOfItsOwn(t *testing.T) {
	s := start(t)
	m := s.main
	a := s.mmap(m, 16*page, protRW, privateAnon)
	s.want(m, "ok", "touch %#x %d w", a, 16*page)
	pid := s.ok(m, "fork c 1")[0]
	c := s.actor("c")
	minflt := func(a *Actor) uint64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", a.PID, a.TID))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		n, err := strconv.ParseUint(f[7], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, step := range []struct {
		who    *Actor
		cmd    string
		faults uint64
	}{
		{c, fmt.Sprintf("read %#x", a), 0},             // present, shared copy-on-write
		{c, "caught 1 10", 0},                          // a command it never ran before
		{c, fmt.Sprintf("write %#x 1", a), 1},          // the copy-on-write copy
		{c, fmt.Sprintf("write %#x 2", a), 0},          // now its own
		{c, fmt.Sprintf("kread %#x 100 3", a+page), 1}, // one page, copied for the kernel's store
		{m, fmt.Sprintf("write %#x 3", a), 1},          // the parent's copy
		{m, fmt.Sprintf("read %#x", a+page), 0},
	} {
		before := minflt(step.who)
		if r := s.do(step.who, "%s", step.cmd); r.Kind != "ok" {
			t.Fatalf("%s: %s", step.cmd, r.Line)
		}
		if got := minflt(step.who) - before; got != step.faults {
			t.Errorf("%s (pid %d): %d faults, want %d", step.cmd, pid, got, step.faults)
		}
	}
}

// TestShortReplyTimeoutIsAPoll: Do's timeout bounds only the wait for the
// reply; the command is always sent (the write has its own bound), so
// even a zero timeout leaves a pending command whose reply comes later.
func TestShortReplyTimeoutIsAPoll(t *testing.T) {
	s := start(t)
	m := s.main
	r, err := m.Do("faults", 0)
	if errors.Is(err, ErrPending) {
		r, err = m.Reply(bounded(cmdTimeout))
	}
	if err != nil || r.Kind != "ok" {
		t.Fatalf("faults with a zero timeout: %q, %v; want the command sent and its reply collected", r.Line, err)
	}
}
