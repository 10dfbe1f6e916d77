package memory_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

// TestShmemTwoVMAs maps one object twice: both mappings see the same
// pages, which live until the last mapping is gone.
func TestShmemTwoVMAs(t *testing.T) {
	tests := []struct {
		name  string
		first mm.Access
	}{
		{"first touch is a read", mm.AccessRead},
		{"first touch is a write", mm.AccessWrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			shm := memory.NewShmem(e.alloc, 2*pg)
			if shm.Name() != "shmem" {
				t.Errorf("Name() = %q", shm.Name())
			}
			a, b := low, low+16*pg
			e.mapAt(a, 2, rw, mm.MapShared, shm)
			e.mapAt(b, 2, rw, mm.MapShared, shm)

			flags := read
			if tc.first == mm.AccessWrite {
				flags = write
			}
			if ret := e.fault(a+pg, flags); ret != 0 {
				t.Fatal(ret)
			}
			page := e.page(a + pg)
			if page == nil || !page.Has(phys.FlagShmem) || page.Has(phys.FlagAnon) {
				t.Fatalf("entry %v, want a shmem page", e.pte(a+pg))
			}
			page.Data()[9] = 0x42
			// The page is in the object's cache: fault-around maps it, and
			// the fault is done without calling ->fault (VM_FAULT_NOPAGE).
			if ret := e.fault(b+pg, read); ret != vmfault.NoPage {
				t.Fatalf("read of a cached page: %v, want NOPAGE", ret)
			}
			if e.page(b+pg) != page {
				t.Fatalf("second mapping maps %v, want the same page", e.pte(b+pg))
			}
			if e.page(b + pg).Data()[9] != 0x42 {
				t.Error("the data is not shared")
			}
			if !e.pte(b + pg).Has(pgtable.Write) {
				t.Errorf("shared writable entry %v is not writable", e.pte(b+pg))
			}
			if page.MapCount() != 2 || page.Refs() != 3 || shm.CachedPages() != 1 {
				t.Errorf("map count %d refs %d cached %d, want 2, 3 (two maps and the cache), 1", page.MapCount(), page.Refs(), shm.CachedPages())
			}
			if e.inUse() != 1 {
				t.Errorf("pages in use %d, want 1", e.inUse())
			}

			if err := e.m.Munmap(ns, a, 2*pg); err != 0 {
				t.Fatal(err)
			}
			if shm.CachedPages() != 1 || page.Refs() != 2 || page.MapCount() != 1 {
				t.Fatalf("after the first munmap: cached %d refs %d map count %d", shm.CachedPages(), page.Refs(), page.MapCount())
			}
			if err := e.m.Munmap(ns, b, 2*pg); err != 0 {
				t.Fatal(err)
			}
			if shm.CachedPages() != 0 || e.inUse() != 0 {
				t.Errorf("after both closed: cached %d, in use %d", shm.CachedPages(), e.inUse())
			}
		})
	}
}

// TestShmemSplitMerge: splitting a shmem VMA opens the object for the new
// part; merging closes it; the object is freed with the last VMA.
func TestShmemSplitMerge(t *testing.T) {
	e := newEnv(t, true)
	shm := memory.NewShmem(e.alloc, 3*pg)
	e.mapAt(low, 3, rw, mm.MapShared, shm)
	for i := uint64(0); i < 3; i++ {
		e.fault(low+i*pg, write)
	}
	if err := e.m.Mprotect(ns, low+pg, pg, ro); err != 0 {
		t.Fatal(err)
	}
	if e.pte(low+pg).Has(pgtable.Write) || !e.pte(low).Has(pgtable.Write) {
		t.Errorf("entries after mprotect: %v %v", e.pte(low), e.pte(low+pg))
	}
	if err := e.m.Mprotect(ns, low+pg, pg, rw); err != 0 {
		t.Fatal(err)
	}
	if err := e.m.Munmap(ns, low+2*pg, pg); err != 0 {
		t.Fatal(err)
	}
	if shm.CachedPages() != 3 {
		t.Fatalf("cached %d after a partial munmap, want 3", shm.CachedPages())
	}
	if err := e.m.Munmap(ns, low, 2*pg); err != 0 {
		t.Fatal(err)
	}
	if shm.CachedPages() != 0 || e.inUse() != 0 {
		t.Errorf("after the last munmap: cached %d, in use %d; Open/Close are unbalanced", shm.CachedPages(), e.inUse())
	}
}

// TestShmemFork: a fork child shares the object's pages.
func TestShmemFork(t *testing.T) {
	p := newEnv(t, true)
	shm := memory.NewShmem(p.alloc, pg)
	p.mapAt(low, 1, rw, mm.MapShared, shm)
	p.fault(low, write)
	c := p.dup()
	if !c.pte(low).None() {
		t.Fatalf("the child inherited the shared entry %v", c.pte(low))
	}
	c.fault(low, write)
	c.page(low).Data()[0] = 0x42
	if p.page(low).Data()[0] != 0x42 || p.page(low) != c.page(low) {
		t.Error("parent does not see the child's write (anon_shared_fork)")
	}
	p.m.Put()
	if shm.CachedPages() != 1 {
		t.Errorf("cached %d with the child alive", shm.CachedPages())
	}
	c.m.Put()
	if shm.CachedPages() != 0 || p.inUse() != 0 {
		t.Errorf("after both exited: cached %d in use %d", shm.CachedPages(), p.inUse())
	}
}

func TestShmemBeyondSize(t *testing.T) {
	e := newEnv(t, true)
	shm := memory.NewShmem(e.alloc, pg+1) // two pages, the second partial
	e.mapAt(low, 3, rw, mm.MapShared, shm)
	for _, tc := range []struct {
		off  uint64
		want vmfault.Reason
	}{{0, 0}, {pg + 100, 0}, {2 * pg, vmfault.SigBus}} {
		if ret := e.fault(low+tc.off, read); ret != tc.want {
			t.Errorf("fault at +%#x = %v, want %v", tc.off, ret, tc.want)
		}
	}
	if shm.CachedPages() != 2 {
		t.Errorf("cached %d, want 2", shm.CachedPages())
	}
}

// TestShmemPrivate: a private mapping of a shmem object reads its pages
// and copies on write, leaving the object unchanged.
func TestShmemPrivate(t *testing.T) {
	e := newEnv(t, true)
	shm := memory.NewShmem(e.alloc, pg)
	e.mapAt(low, 1, rw, mm.MapShared, shm)
	e.fault(low, write)
	obj := e.page(low)
	obj.Data()[0] = 0x61
	e.mapAt(low+8*pg, 1, rw, 0, shm) // private
	e.fault(low+8*pg, read)
	if e.page(low+8*pg) != obj || e.pte(low+8*pg).Has(pgtable.Write) {
		t.Fatalf("private read: %v, want the object's page read-only", e.pte(low+8*pg))
	}
	e.fault(low+8*pg, write)
	cp := e.page(low + 8*pg)
	if cp == obj || cp.Data()[0] != 0x61 || !e.pte(low+8*pg).Has(pgtable.Write) {
		t.Fatalf("private write: %v, want a writable copy holding 0x61", e.pte(low+8*pg))
	}
	cp.Data()[0] = 0x62
	if obj.Data()[0] != 0x61 {
		t.Error("the private write reached the object")
	}
	if obj.MapCount() != 1 || obj.Refs() != 2 {
		t.Errorf("object page map count %d refs %d, want 1 and 2", obj.MapCount(), obj.Refs())
	}
}

func TestShmemOOM(t *testing.T) {
	e := newEnv(t, true)
	shm := memory.NewShmem(e.alloc, pg)
	e.mapAt(low, 1, rw, mm.MapShared, shm)
	e.alloc.SetLimit(1)
	hog, _ := e.alloc.Alloc(phys.FlagAnon)
	if ret := e.fault(low, read); ret != vmfault.OOM {
		t.Errorf("HandleMMFault = %v, want OOM", ret)
	}
	if shm.CachedPages() != 0 {
		t.Errorf("cached %d after a failed allocation", shm.CachedPages())
	}
	hog.Put()
	if ret := e.fault(low, read); ret != 0 {
		t.Errorf("after memory was freed: %v", ret)
	}
}

// TestShmemChargeWithoutLock: a shmem fault charges its page without the
// object's lock, since the OOM killer the charge may run can end a
// process whose exit closes this very object (it deadlocked).
func TestShmemChargeWithoutLock(t *testing.T) {
	e := newEnv(t, true)
	shm := memory.NewShmem(e.alloc, pg)
	e.mapAt(low, 1, rw, mm.MapShared, shm)
	cg := &phys.MemCG{}
	cg.SetLimit(0)
	cg.Reclaim = func(int64) int64 { return 0 }
	cg.OOM = func() bool {
		shm.Open(nil) // the victim's mapping goes: its exit takes the lock
		shm.Close(nil)
		return false
	}
	done := make(chan vmfault.Reason, 1)
	go func() { done <- e.faultAs(&cgFaulter{cg: cg}, low, read) }()
	select {
	case ret := <-done:
		if ret != vmfault.OOM {
			t.Errorf("HandleMMFault = %v, want OOM", ret)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fault deadlocked on the object's lock")
	}
}
