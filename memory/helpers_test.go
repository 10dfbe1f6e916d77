package memory_test

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
	"github.com/faultline/faultline/vmfault"
)

const (
	pg   = 4096
	low  = uint64(0x10000000)
	rw   = mm.ProtRead | mm.ProtWrite
	ro   = mm.ProtRead
	none = mm.ProtNone
)

var ns = sched.NoSleep{}

// testArch is x86-like: accessible mappings are readable, only shared
// writable ones start writable. deny makes arch_vma_access_permitted
// refuse every data access.
type testArch struct{ deny bool }

func (testArch) PageProt(f mm.VMFlags, _ int) pgtable.PTE {
	if f&mm.VMAccessFlags == 0 {
		return 0
	}
	p := pgtable.User | pgtable.Read
	if f&mm.VMWrite != 0 && f&mm.VMShared != 0 {
		p |= pgtable.Write
	}
	if f&mm.VMExec != 0 {
		p |= pgtable.Exec
	}
	return p
}
func (testArch) TaskSize() uint64 { return 1<<47 - pg }
func (testArch) MmapBase() uint64 { return 1<<47 - pg - 256<<20 }
func (a testArch) AccessPermitted(_ *mm.VMA, _, exec, _ bool) bool {
	return !a.deny || exec
}
func (testArch) MprotectPKey(mm.Prot, int) int { return 0 }

// faulter counts the faults accounted to it and never sleeps.
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

type env struct {
	t     *testing.T
	m     *mm.MM
	alloc *phys.Allocator
	task  *faulter
}

func newEnv(t *testing.T, zeroPage bool) *env {
	return newEnvArch(t, zeroPage, testArch{})
}

func newEnvArch(t *testing.T, zeroPage bool, arch testArch) *env {
	t.Helper()
	cfg := config.Default()
	cfg.ZeroPage = zeroPage
	alloc := phys.NewAllocator()
	return &env{t: t, m: mm.New(arch, &cfg, alloc), alloc: alloc, task: &faulter{}}
}

// mapAt maps n pages at addr.
func (e *env) mapAt(addr uint64, n int, prot mm.Prot, flags mm.MapFlags, ops mm.VMOperations) {
	e.t.Helper()
	got, err := e.m.Mmap(ns, mm.MapRequest{Addr: addr, Length: uint64(n) * pg, Prot: prot, Flags: flags | mm.MapFixedNoReplace, Ops: ops})
	if err != 0 || got != addr {
		e.t.Fatalf("mmap %#x: %#x, %v", addr, got, err)
	}
}

// fault resolves one fault at addr under the mmap read lock, as the
// generic handler would, and releases the lock unless the resolver did.
func (e *env) fault(addr uint64, flags vmfault.Flags) vmfault.Reason {
	e.t.Helper()
	return e.faultAs(e.task, addr, flags)
}

func (e *env) faultAs(task memory.Faulter, addr uint64, flags vmfault.Flags) vmfault.Reason {
	e.t.Helper()
	if !e.m.MmapReadTryLock() {
		e.t.Fatal("the mmap lock is held")
	}
	v := e.m.VMALookup(addr)
	if v == nil {
		e.m.MmapReadUnlock()
		e.t.Fatalf("no VMA at %#x", addr)
	}
	ret := memory.HandleMMFault(v, addr, flags, task)
	if ret&(vmfault.Retry|vmfault.Completed) == 0 {
		e.m.MmapReadUnlock()
	}
	e.unlocked()
	return ret
}

func (e *env) unlocked() {
	e.t.Helper()
	if r, w, v := e.m.LockState(); r != 0 || w || v != 0 {
		e.t.Fatalf("locks held: %d readers, writer %v, %d VMA readers", r, w, v)
	}
}

func (e *env) pte(addr uint64) pgtable.PTE {
	t, i := e.m.PT.Lookup(addr)
	if t == nil {
		return 0
	}
	return t.Load(i)
}

func (e *env) setPTE(addr uint64, p pgtable.PTE) {
	t, i := e.m.PT.Alloc(addr)
	t.Lock()
	t.Store(i, p)
	t.Unlock()
}

// page returns the frame mapped at addr, or nil.
func (e *env) page(addr uint64) *phys.Page {
	p := e.pte(addr)
	if !p.Mapped() {
		return nil
	}
	return e.alloc.Lookup(p.PFN())
}

func (e *env) inUse() int64 { return e.alloc.Stats().InUse }

func (e *env) dup() *env {
	e.t.Helper()
	c, err := e.m.Dup(ns)
	if err != 0 {
		e.t.Fatal(err)
	}
	return &env{t: e.t, m: c, alloc: e.alloc, task: &faulter{}}
}

// withVMA changes the VMA at addr under the write lock.
func (e *env) withVMA(addr uint64, fn func(v *mm.VMA)) {
	e.t.Helper()
	if !e.m.MmapWriteTryLock() {
		e.t.Fatal("the mmap lock is held")
	}
	v := e.m.FindVMA(addr)
	v.StartWrite()
	fn(v)
	e.m.MmapWriteUnlock()
}

const (
	read  = vmfault.FlagDefault | vmfault.FlagUser
	write = read | vmfault.FlagWrite
)

// scripted is a Backing whose ->fault returns the scripted results in
// order (the last repeats). On success it hands out one page of its own;
// on Retry it drops the mmap lock, as the contract requires.
type scripted struct {
	alloc   *phys.Allocator
	results []vmfault.Reason
	flags   []vmfault.Flags
	page    *phys.Page
	opens   int
	closes  int
}

func (s *scripted) Name() string             { return "scripted" }
func (s *scripted) Open(*mm.VMA)             { s.opens++ }
func (s *scripted) Close(*mm.VMA)            { s.closes++ }
func (s *scripted) calls() int               { return len(s.flags) }
func (s *scripted) lastFlags() vmfault.Flags { return s.flags[len(s.flags)-1] }

func (s *scripted) Fault(f *memory.Fault) vmfault.Reason {
	r := s.results[min(len(s.flags), len(s.results)-1)]
	s.flags = append(s.flags, f.Flags)
	if r&vmfault.Retry != 0 {
		if f.Flags&vmfault.FlagVMALock != 0 {
			f.VMA.EndRead()
		} else {
			f.VMA.MM().MmapReadUnlock()
		}
		return r
	}
	if r&vmfault.Error != 0 {
		return r
	}
	if s.page == nil {
		p, err := s.alloc.Alloc(phys.FlagShmem)
		if err != nil {
			return vmfault.OOM
		}
		s.page = p
	}
	s.page.Get()
	f.Page = s.page
	return r
}

// opsOnly is a backing without a ->fault.
type opsOnly struct{}

func (opsOnly) Name() string  { return "ops-only" }
func (opsOnly) Open(*mm.VMA)  {}
func (opsOnly) Close(*mm.VMA) {}

// SignalPending implements memory.Faulter: no signals in these tests.
func (*faulter) SignalPending() bool { return false }

// FatalSignalPending implements memory.Faulter.
func (*faulter) FatalSignalPending() bool { return false }

// MemCG implements memory.Faulter: the root group.
func (*faulter) MemCG() *phys.MemCG { return nil }

// PageCache implements memory.Faulter: frames come from the zone.
func (*faulter) PageCache() *phys.Cache { return nil }

// Tracer implements memory.Faulter: no trace.
func (*faulter) Tracer() *trace.Track { return nil }
