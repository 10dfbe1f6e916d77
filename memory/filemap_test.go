package memory_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

// cgFaulter is a faulter charged to a memory cgroup.
type cgFaulter struct {
	faulter
	cg *phys.MemCG
}

func (c *cgFaulter) MemCG() *phys.MemCG { return c.cg }

// newFile returns a file of n pages of fill, evicted (a miss needs I/O),
// reading ra pages around a miss.
func newFile(e *env, n int, fill byte, ra uint64) *memory.File {
	f := memory.NewFile("f", uint64(n)*pg, fill, e.alloc, memory.NewDisk(), ra)
	f.Evict()
	return f
}

// resolved reports a fault that mapped the page: by ->fault, or by
// fault-around before it (VM_FAULT_NOPAGE).
func resolved(ret vmfault.Reason) bool { return ret == 0 || ret == vmfault.NoPage }

// TestFileFault: a miss reads the page with the lock dropped and retries
// (a major fault); the retry maps the file's bytes; beyond EOF is SIGBUS.
func TestFileFault(t *testing.T) {
	e := newEnv(t, true)
	f := newFile(e, 2, 0x5a, 1)
	e.mapAt(low, 3, ro, mm.MapShared, f)
	if ret := e.fault(low, read); ret != vmfault.Retry|vmfault.Major {
		t.Fatalf("first attempt = %v, want RETRY|MAJOR", ret)
	}
	if ret := e.fault(low, read|vmfault.FlagTried); !resolved(ret) {
		t.Fatalf("retry = %v", ret)
	}
	if p := e.page(low); p == nil || p.Data()[100] != 0x5a {
		t.Fatal("the retry did not map the file's page")
	}
	if e.task.major != 1 || e.task.minor != 0 {
		t.Errorf("faults minor %d major %d, want one major", e.task.minor, e.task.major)
	}
	if ret := e.fault(low+2*pg, read); ret != vmfault.SigBus {
		t.Errorf("beyond EOF = %v, want SIGBUS", ret)
	}
}

// TestFileChargeReclaimsSameFile: charging a page-cache page over the
// limit reclaims clean pages of the very file being read, mapped ones
// included. The charge must not hold the file's lock (it deadlocked).
func TestFileChargeReclaimsSameFile(t *testing.T) {
	e := newEnv(t, true)
	f := newFile(e, 4, 0x33, 1)
	cg := &phys.MemCG{}
	cg.SetLimit(2)
	cg.Reclaim = func(n int64) int64 { return f.ReclaimClean(cg, n) }
	task := &cgFaulter{cg: cg}
	e.mapAt(low, 4, ro, mm.MapShared, f)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range uint64(4) {
			addr := low + i*pg
			if ret := e.faultAs(task, addr, read); ret != vmfault.Retry|vmfault.Major {
				t.Errorf("page %d: first attempt = %v", i, ret)
				return
			}
			if ret := e.faultAs(task, addr, read|vmfault.FlagTried); !resolved(ret) {
				t.Errorf("page %d: retry = %v", i, ret)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the fault deadlocked charging a page-cache page")
	}
	if usage, _ := cg.Usage(); usage > 2 {
		t.Errorf("usage %d pages over a limit of 2", usage)
	}
	if p := e.page(low + 3*pg); p == nil || p.Data()[0] != 0x33 {
		t.Error("the last page is not mapped")
	}
	if e.page(low) != nil {
		t.Error("reclaim left the first page mapped")
	}
	if ret := e.faultAs(task, low, read); ret != vmfault.Retry|vmfault.Major {
		t.Errorf("the reclaimed page faults %v, want a major fault again", ret)
	}
}

// TestReclaimCleanSkips: dirty pages and pages someone holds are not
// reclaimed; clean idle ones are.
func TestReclaimCleanSkips(t *testing.T) {
	e := newEnv(t, true)
	f := newFile(e, 3, 0x44, 3)
	cg := &phys.MemCG{}
	task := &cgFaulter{cg: cg}
	e.mapAt(low, 3, rw, mm.MapShared, f)
	e.faultAs(task, low, read)
	e.faultAs(task, low, read|vmfault.FlagTried) // reads all three, maps the first
	if ret := e.faultAs(task, low+pg, write); ret&vmfault.Error != 0 {
		t.Fatalf("write = %v", ret)
	}
	held := f.CachedPage(2, task)
	if held == nil {
		t.Fatal("page 2 is not cached")
	}
	if got := f.ReclaimClean(cg, 3); got != 1 {
		t.Errorf("reclaimed %d pages, want 1 (the clean, idle first page)", got)
	}
	if e.page(low+pg) == nil {
		t.Error("the dirty page was unmapped")
	}
	held.Put()
	if got := f.ReclaimClean(cg, 3); got != 1 {
		t.Errorf("reclaimed %d pages once released, want 1", got)
	}
}
