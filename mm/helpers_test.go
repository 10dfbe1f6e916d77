package mm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
)

const (
	pg   = 4096
	low  = uint64(0x10000000) // a base for fixed mappings, far from mmap_base
	rw   = mm.ProtRead | mm.ProtWrite
	ro   = mm.ProtRead
	none = mm.ProtNone
)

var ns = sched.NoSleep{}

// fixture is an address space with its allocator.
type fixture struct {
	t     *testing.T
	m     *mm.MM
	alloc *phys.Allocator
	cfg   *config.Kernel
}

func setup(t *testing.T, opts ...func(*config.Kernel)) *fixture {
	t.Helper()
	cfg := config.Default()
	for _, o := range opts {
		o(&cfg)
	}
	alloc := phys.NewAllocator()
	return &fixture{t: t, m: mm.New(testArch{}, &cfg, alloc), alloc: alloc, cfg: &cfg}
}

// mapAt maps n pages at addr exactly.
func (f *fixture) mapAt(addr uint64, n int, prot mm.Prot, flags mm.MapFlags) {
	f.t.Helper()
	got, err := f.m.Mmap(ns, mm.MapRequest{Addr: addr, Length: uint64(n) * pg, Prot: prot, Flags: flags | mm.MapFixedNoReplace})
	if err != 0 || got != addr {
		f.t.Fatalf("mmap(%#x, %d pages): %#x, %v", addr, n, got, err)
	}
}

// span is a VMA's extent and flags, as a test compares them.
type span struct {
	start, end uint64
	flags      mm.VMFlags
}

func (s span) String() string { return fmt.Sprintf("[%#x,%#x %v]", s.start, s.end, s.flags) }

// spans lists the VMAs; the flags are only the prot bits unless full.
func (f *fixture) spans(full bool) []span {
	f.t.Helper()
	if !f.m.MmapReadTryLock() {
		f.t.Fatal("the mmap lock is held")
	}
	defer f.m.MmapReadUnlock()
	var out []span
	f.m.VMAs(func(v *mm.VMA) bool {
		fl := v.Flags
		if !full {
			fl &= mm.VMAccessFlags
		}
		out = append(out, span{v.Start, v.End, fl})
		return true
	})
	return out
}

func (f *fixture) wantSpans(want ...span) {
	f.t.Helper()
	got := f.spans(false)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		f.t.Fatalf("VMAs = %v\nwant   %v", got, want)
	}
}

// check verifies the VMA index and that nothing is left locked.
func (f *fixture) check() {
	f.t.Helper()
	if r, w, v := f.m.LockState(); r != 0 || w || v != 0 {
		f.t.Fatalf("locks left held: %d readers, writer %v, %d VMA readers", r, w, v)
	}
	if err := f.m.CheckVMAs(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) vmaCount() int {
	f.t.Helper()
	f.m.MmapReadLock(ns, sched.Killable)
	defer f.m.MmapReadUnlock()
	return f.m.VMACount()
}

// vma returns the VMA containing addr, or nil.
func (f *fixture) vma(addr uint64) *mm.VMA {
	f.m.MmapReadLock(ns, sched.Killable)
	defer f.m.MmapReadUnlock()
	return f.m.VMALookup(addr)
}

// withWrite runs fn under the mmap write lock.
func (f *fixture) withWrite(fn func()) {
	f.t.Helper()
	if !f.m.MmapWriteTryLock() {
		f.t.Fatal("the mmap lock is held")
	}
	defer f.m.MmapWriteUnlock()
	fn()
}

// pte returns the entry for addr (0 when no table exists).
func (f *fixture) pte(addr uint64) pgtable.PTE { return pteOf(f.m, addr) }

func pteOf(m *mm.MM, addr uint64) pgtable.PTE {
	t, i := m.PT.Lookup(addr)
	if t == nil {
		return 0
	}
	return t.Load(i)
}

// setPTE stores an entry directly, as a test sets up markers.
func (f *fixture) setPTE(addr uint64, p pgtable.PTE) {
	t, i := f.m.PT.Alloc(addr)
	t.Lock()
	t.Store(i, p)
	t.Unlock()
}

// page returns the frame addr maps, or nil.
func (f *fixture) page(addr uint64) *phys.Page {
	p := f.pte(addr)
	if !p.Mapped() {
		return nil
	}
	return f.alloc.Lookup(p.PFN())
}

// faulter is a memory.Faulter that never sleeps and counts faults.
type faulter struct {
	sched.NoSleep
	minor, major int
}

func (c *faulter) AccountFault(major bool) {
	if major {
		c.major++
	} else {
		c.minor++
	}
}

// populate faults [addr, addr+n pages) in for writing.
func (f *fixture) populate(addr uint64, n int) {
	f.t.Helper()
	if err := memory.Populate(f.m, &faulter{}, addr, addr+uint64(n)*pg, memory.PopulateWrite); err != 0 {
		f.t.Fatalf("populate %#x: %v", addr, err)
	}
}

func (f *fixture) inUse() int64 { return f.alloc.Stats().InUse }

func wantErrno(t *testing.T, what string, got, want abi.Errno) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, errnoName(got), errnoName(want))
	}
}

func errnoName(e abi.Errno) string {
	if e == 0 {
		return "0"
	}
	return strings.TrimSpace(e.String())
}

// waitTimeout is the hang guard of a single wait.
func waitTimeout() <-chan time.Time { return time.After(hangGuard) }

// SignalPending implements memory.Faulter: no signals in these tests.
func (*faulter) SignalPending() bool { return false }

// FatalSignalPending implements memory.Faulter.
func (*faulter) FatalSignalPending() bool { return false }

// MemCG implements memory.Faulter: the root group.
func (*faulter) MemCG() *phys.MemCG     { return nil }
func (*faulter) PageCache() *phys.Cache { return nil }

// Tracer implements memory.Faulter: no trace.
func (*faulter) Tracer() *trace.Track { return nil }
