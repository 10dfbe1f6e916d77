//go:build linux

package host

import (
	"fmt"
	"syscall"
	"testing"
)

// TestHugeRanges: madvise, mprotect and munmap over ranges that reach past
// the scenario's memory into the executor's own (its program, libraries,
// heap and stack lie above the mappings the kernel places top-down) give
// the kernel's answer for the scenario's mappings, and the executor goes
// on serving: its own memory is a hole to a scenario, as on the model.
func TestHugeRanges(t *testing.T) {
	s := start(t)
	m := s.main
	const top = 1<<47 - page // TASK_SIZE with 4-level page tables
	for _, tt := range []struct {
		cmd  string // with %#x for the scenario's page A and the length
		len  func(a uint64) uint64
		want string // the reply
	}{
		{"madvise %#x %#x 4", huge(1 << 63), "err 12"},   // MADV_DONTNEED over 2^63 bytes: holes
		{"madvise %#x %#x 4", huge(1<<63 + 1), "err 12"}, // 2^63+1: still no wrap
		{"madvise %#x %#x 4", huge(1 << 56), "err 12"},   // the language's limit
		{"madvise %#x %#x 102", huge(1 << 56), "err 12"}, // MADV_GUARD_INSTALL
		{"madvise %#x %#x 23", huge(1 << 56), "err 12"},  // MADV_POPULATE_WRITE stops at the first hole
		{"madvise %#x %#x 9", huge(1 << 63), "err 22"},   // MADV_REMOVE: not on private memory
		{"mprotect %#x %#x 0", huge(1 << 63), "err 12"},  // PROT_NONE: stops at the first hole
		{"mprotect %#x %#x 1", huge(1 << 56), "err 12"},
		{"munmap %#x %#x", huge(1 << 56), "err 22"},                        // past TASK_SIZE: the kernel refuses it all
		{"munmap %#x %#x", func(a uint64) uint64 { return top - a }, "ok"}, // up to TASK_SIZE: the scenario's page goes
		{"uffd_register u %#x %#x 1", huge(1 << 56), "err 22"},
		{"uffd_wp u %#x %#x 1", huge(1 << 56), "err 22"},
	} {
		a := s.mmap(m, page, protRW, privateAnon)
		s.want(m, "ok", "write %#x 7", a)
		if tt.cmd[:4] == "uffd" {
			s.do(m, "uffd_open u 0")
		}
		cmd := fmt.Sprintf(tt.cmd, a, tt.len(a))
		if r := s.do(m, "%s", cmd); r.Line != tt.want {
			t.Errorf("%s => %q, want %q", cmd, r.Line, tt.want)
		}
		// The executor still runs: a command of its own.
		s.want(m, "ok", "warm")
		s.do(m, "munmap %#x %d", a, page)
	}
	// And forks.
	pid := s.ok(m, "fork c 1")[0]
	c := s.actor("c")
	if c.PID != int(pid) {
		t.Fatalf("child %d, fork said %d", c.PID, pid)
	}
	s.want(c, "ok", "warm")
}

// huge returns a length of n bytes whatever the address.
func huge(n uint64) func(uint64) uint64 { return func(uint64) uint64 { return n } }

// TestRlimitStackZeroFork: under RLIMIT_STACK 0 the executor's own stack
// cannot grow, and a fork child (whose calls go deeper than the parent's
// ever did) still starts, serves and forks again, nested; the limit still
// applies to a scenario's growsdown mapping.
func TestRlimitStackZeroFork(t *testing.T) {
	s := start(t)
	m := s.main
	s.want(m, "ok", "rlimit_stack 0")
	act := m
	for i := 1; i <= 8; i++ {
		name := fmt.Sprintf("c%d", i)
		s.ok(act, "fork %s %d", name, i)
		act = s.actor(name)
		s.want(act, "ok", "warm")
		a := s.mmap(act, page, protRW, privateAnon)
		s.want(act, "ok", "write %#x 1", a)
	}
	// A growsdown mapping cannot grow under the limit, in the deepest child.
	const growsDown = 0x0100
	stk := s.mmap(act, 4*page, protRW, privateAnon|growsDown)
	s.want(act, "ok", "write %#x 1", stk)
	s.want(act, sig(11, segvMaperr, stk-1), "write %#x 1", stk-1)
	s.want(m, "ok", "warm")
}

// TestSizeCap: the executor refuses, as the scenario language does
// (scenario.MaxFill), any size past 256 MiB that it would write, allocate
// or walk, and takes one at the cap.
func TestSizeCap(t *testing.T) {
	s := start(t)
	m := s.main
	const capBytes = 256 << 20
	s.want(m, "ok", "file f 0 0")
	s.want(m, "ok", "truncate f %d", capBytes) // sparse: cheap at the cap
	a := s.mmap(m, page, protRW, privateAnon)
	s.do(m, "uffd_open u 0")
	for _, cmd := range []string{
		"file g %d 0", "truncate f %d", "kread 0x%x %d 0", "kwrite 0x%x %d", "touch 0x%x %d r",
		"uffd_copy u 0x%x %d 0", "uffd_zeropage u 0x%x %d", "uffd_continue u 0x%x %d", "uffd_poison u 0x%x %d",
	} {
		var line string
		if countArgs(cmd) == 1 {
			line = fmt.Sprintf(cmd, capBytes+1)
		} else {
			line = fmt.Sprintf(cmd, a, capBytes+1)
		}
		if r := s.do(m, "%s", line); r.Kind != "proto" {
			t.Errorf("%s => %q, want proto (past the cap)", line, r.Line)
		}
	}
}

// countArgs counts the % verbs of a format.
func countArgs(format string) int {
	n := 0
	for i := 0; i+1 < len(format); i++ {
		if format[i] == '%' {
			n++
		}
	}
	return n
}

// TestOwnMemoryPastManyMappings: with more scenario mappings than fit in
// any buffer the executor reads /proc/self/maps with, its own memory
// (listed after them) is still found: a range over all of it leaves the
// executor running, and rlimit_stack still finds the main stack.
func TestOwnMemoryPastManyMappings(t *testing.T) {
	s := start(t)
	m := s.main
	var low uint64
	for i := range 1500 {
		prot := protRW
		if i%2 == 1 {
			prot = syscall.PROT_READ // no merging: one line each
		}
		low = s.mmap(m, page, prot, privateAnon)
	}
	s.want(m, "err 12", "madvise %#x %#x 4", low, uint64(1)<<56)
	s.want(m, "err 12", "mprotect %#x %#x 0", low, uint64(1)<<56)
	s.want(m, "ok", "warm")
	s.want(m, "ok", "rlimit_stack 0")
	s.ok(m, "fork c 1")
	c := s.actor("c")
	s.want(c, "ok", "warm")
}
