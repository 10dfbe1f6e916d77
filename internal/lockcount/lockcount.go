// Package lockcount counts the instructions, and the locked ones among
// them, that one goroutine executes between two marker calls, by
// single-stepping its thread with ptrace from another process: a test
// helper that makes "locked instructions per fault" a number a test can
// read, where a profile only shows time.
//
// A test re-executes its own binary as a child (Run). The child, told so
// by the environment (IsChild), locks its goroutine to its OS thread,
// warms the workload up, reports its thread id and the addresses of the
// markers, and spins (Serve). The parent seizes every thread of the
// child (PTRACE_SEIZE, PTRACE_INTERRUPT: nothing else of the child runs,
// not even the runtime's sysmon, which would otherwise preempt a
// goroutine slowed down by single-stepping), releases the spin by writing
// to the child's memory, and single-steps the one thread from Start to
// End, reading each instruction's bytes at RIP. An instruction is locked
// when a LOCK prefix (0xF0) is among its legacy prefixes, or when it is
// XCHG with a memory operand (implicitly locked); a REP-prefixed string
// instruction, which traps once per iteration, counts once.
//
// The child runs with GOGC=off and GODEBUG=asyncpreemptoff=1 (Run sets
// them): no collection and no preemption signal run on the thread. The
// counts are of the binary as built: run it without -race, whose
// instrumentation adds its own instructions.
//
// Only linux/amd64 is supported; elsewhere Run returns ErrUnsupported.
package lockcount

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
)

// EnvChild names the environment variable that makes a test binary a
// child of Run; its value is the case the child runs.
const EnvChild = "FAULTLINE_LOCKCOUNT_CHILD"

// ErrUnsupported: single-stepping is not available on this platform.
var ErrUnsupported = errors.New("lockcount: single-stepping needs linux/amd64")

// ErrNotPermitted wraps the error of a ptrace the system refused (no
// CAP_SYS_PTRACE, Yama, seccomp in a container): a test skips on it.
var ErrNotPermitted = errors.New("lockcount: ptrace is not permitted")

// Start marks where counting starts: the child calls it just before the
// code measured.
//
//go:noinline
func Start() {}

// End marks where counting stops (End itself is not counted).
//
//go:noinline
func End() {}

// pcOf returns the entry address of a function.
func pcOf(f func()) uint64 { return uint64(reflect.ValueOf(f).Pointer()) }

// IsChild reports whether this process is a child started by Run, and
// the case it was given.
func IsChild() (string, bool) { return os.LookupEnv(EnvChild) }

// Site is one locked instruction of a counted run.
type Site struct {
	PC uint64
	// Func names the function holding PC as the binary's symbols do,
	// the innermost first, and for an inlined one the function whose
	// code holds it ("sync/atomic.(*Int32).Add < memory.doAnonymousPage").
	Func string
	Insn string // "lock" (a LOCK prefix) or "xchg" (XCHG with memory)
	// Bytes are the instruction's first bytes, for a reader to decode.
	Bytes []byte
}

// Report is what one counted run executed between Start and End.
type Report struct {
	// Instructions counts the instructions executed, a REP-prefixed
	// string instruction once however often it iterated.
	Instructions int
	// Steps counts the single-steps taken (REP iterations each count).
	Steps int
	// Locked lists the locked instructions in execution order.
	Locked []Site
	// ByFunc counts the instructions by the function whose code holds
	// them (inlined code counts with the function it was inlined into).
	ByFunc map[string]int
}

// Profile lists ByFunc, most first, one per line: "N  func".
func (r *Report) Profile() string {
	names := make([]string, 0, len(r.ByFunc))
	for n := range r.ByFunc {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if r.ByFunc[names[i]] != r.ByFunc[names[j]] {
			return r.ByFunc[names[i]] > r.ByFunc[names[j]]
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%5d  %s\n", r.ByFunc[n], n)
	}
	return b.String()
}

// LockedCount returns len(r.Locked).
func (r *Report) LockedCount() int { return len(r.Locked) }

// Summary lists the locked instructions grouped by function, most first,
// one per line: "N  func (kind)".
func (r *Report) Summary() string {
	type key struct{ fn, insn string }
	n := map[key]int{}
	var order []key
	for _, s := range r.Locked {
		k := key{s.Func, s.Insn}
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	sort.SliceStable(order, func(i, j int) bool { return n[order[i]] > n[order[j]] })
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "%3d  %s (%s)\n", n[k], k.fn, k.insn)
	}
	return b.String()
}

// prefixes are x86's legacy prefixes: LOCK, REPNE, REP, the segment
// overrides, operand and address size.
var prefixes = [256]bool{
	0xf0: true, 0xf2: true, 0xf3: true,
	0x2e: true, 0x36: true, 0x3e: true, 0x26: true, 0x64: true, 0x65: true,
	0x66: true, 0x67: true,
}

// Classify reads the start of an x86-64 instruction: whether it is
// locked, how ("lock" or "xchg"), and whether it has a REP prefix (a
// string instruction single-stepping traps once per iteration of).
func Classify(b []byte) (locked bool, kind string, rep bool) {
	i := 0
	lock := false
	for i < len(b) && prefixes[b[i]] {
		switch b[i] {
		case 0xf0:
			lock = true
		case 0xf2, 0xf3:
			rep = true
		}
		i++
	}
	if i < len(b) && b[i]&0xf0 == 0x40 { // REX
		i++
	}
	if lock {
		return true, "lock", rep
	}
	// XCHG r/m, r (0x86, 0x87) with a memory operand: ModRM.mod != 3.
	if i+1 < len(b) && (b[i] == 0x86 || b[i] == 0x87) && b[i+1]>>6 != 3 {
		return true, "xchg", rep
	}
	return false, "", rep
}

// funcName names the function at pc in this binary, without the module
// path: the innermost function, and when it was inlined, the function
// whose code holds pc after it (see Site.Func).
func funcName(pc uint64, outerOnly bool) string {
	short := func(s string) string { return strings.TrimPrefix(s, "github.com/faultline/faultline/") }
	f := runtime.FuncForPC(uintptr(pc))
	if f == nil {
		return ""
	}
	// FuncForPC names the innermost inlined function and gives the entry
	// of the outermost, the function the code belongs to.
	name := short(f.Name())
	if outerOnly {
		if o := runtime.FuncForPC(f.Entry()); o != nil {
			return short(o.Name())
		}
		return name
	}
	if o := runtime.FuncForPC(f.Entry()); o != nil && o.Name() != f.Name() {
		name += " < " + short(o.Name())
	}
	return name
}
