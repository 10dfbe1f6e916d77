package memory_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
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
	f := memory.NewFile("f", uint64(n)*pg, fill, e.alloc, memory.NewDisk(config.Version{Major: 6, Minor: 18}), ra)
	f.Evict(ns)
	return f
}

// chargedFile maps an evicted file of n pages of fill, reading ra pages
// around a miss, shared with prot at low, for a task charged to a memory
// cgroup with no limit.
func chargedFile(t *testing.T, n int, fill byte, ra uint64, prot mm.Prot) (*env, *memory.File, *phys.MemCG, *cgFaulter) {
	e := newEnv(t, true)
	f := newFile(e, n, fill, ra)
	cg := &phys.MemCG{}
	e.mapAt(low, n, prot, mm.MapShared, f)
	return e, f, cg, &cgFaulter{cg: cg}
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
	e, f, cg, task := chargedFile(t, 4, 0x33, 1, ro)
	cg.SetLimit(2)
	cg.Reclaim = func(n int64) int64 { return memory.ReclaimFiles([]*memory.File{f}, cg, n) }

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

// TestReclaimOrder: reclaim takes clean pages before dirty ones, writes a
// dirty page back before dropping it (a refault reads what was written),
// and leaves a page someone holds alone.
func TestReclaimOrder(t *testing.T) {
	e, f, cg, task := chargedFile(t, 3, 0x44, 3, rw)
	e.faultAs(task, low, read)
	e.faultAs(task, low, read|vmfault.FlagTried) // reads all three, maps the first
	if ret := e.faultAs(task, low+pg, write); ret&vmfault.Error != 0 {
		t.Fatalf("write = %v", ret)
	}
	e.page(low + pg).Data()[7] = 0x99 // the store the write fault was for
	held := f.CachedPage(2, task)
	if held == nil {
		t.Fatal("page 2 is not cached")
	}
	if got := memory.ReclaimFiles([]*memory.File{f}, cg, 1); got != 1 {
		t.Errorf("reclaimed %d pages, want 1", got)
	}
	if e.page(low) != nil || e.page(low+pg) == nil {
		t.Error("reclaim took the dirty page before the clean one")
	}
	if got := memory.ReclaimFiles([]*memory.File{f}, cg, 3); got != 1 {
		t.Errorf("reclaimed %d pages, want 1 (the dirty page; page 2 is held)", got)
	}
	if e.page(low+pg) != nil {
		t.Error("the dirty page is still mapped")
	}
	held.Put()
	if got := memory.ReclaimFiles([]*memory.File{f}, cg, 3); got != 1 {
		t.Errorf("reclaimed %d pages once released, want 1", got)
	}
	if ret := e.faultAs(task, low+pg, read); ret != vmfault.Retry|vmfault.Major {
		t.Fatalf("refault of the written-back page = %v, want a major fault", ret)
	}
	e.faultAs(task, low+pg, read|vmfault.FlagTried)
	if p := e.page(low + pg); p == nil || p.Data()[7] != 0x99 || p.Data()[8] != 0x44 {
		t.Error("the dirty page was not written back before it was dropped")
	}
}

// TestEvictCleansMappings: write-back write-protects and cleans the
// entries mapping a dirty page, keeps the page cached while mapped, and
// takes a later store only after a write fault dirties the page again.
func TestEvictCleansMappings(t *testing.T) {
	e := newEnv(t, true)
	f := memory.NewFile("f", pg, 0x61, e.alloc, memory.NewDisk(config.Version{Major: 6, Minor: 18}), 1)
	e.mapAt(low, 1, rw, mm.MapShared, f)
	if ret := e.fault(low, write); ret&vmfault.Error != 0 {
		t.Fatalf("write = %v", ret)
	}
	if pte := e.pte(low); !pte.Has(pgtable.Write | pgtable.Dirty) {
		t.Fatalf("after the write fault the entry is %v", pte)
	}
	f.Evict(e.task)
	pte := e.pte(low)
	if !pte.Present() || pte.Has(pgtable.Write) || pte.Has(pgtable.Dirty) {
		t.Fatalf("after write-back the entry is %v, want present, clean, read-only", pte)
	}
	p := e.page(low)
	if p.Has(phys.FlagDirty) {
		t.Error("the page is still dirty after write-back")
	}
	if ret := e.fault(low, write); ret&vmfault.Error != 0 {
		t.Fatalf("second write = %v", ret)
	}
	if !p.Has(phys.FlagDirty) || !e.pte(low).Has(pgtable.Write) {
		t.Error("the second write fault did not dirty the page and make the entry writable")
	}
}

// TestAsyncReadahead: read-around marks the page a quarter of its window
// from the end; fault-around leaves it alone, and the fault on it reads
// the next window, so that the fault after the window finds its page
// cached: a minor fault.
func TestAsyncReadahead(t *testing.T) {
	e := newEnv(t, true)
	f := newFile(e, 64, 0x5b, 8)
	e.mapAt(low, 64, ro, mm.MapShared, f)
	if ret := e.fault(low, read); ret != vmfault.Retry|vmfault.Major {
		t.Fatalf("first fault = %v, want a major fault", ret)
	}
	e.fault(low, read|vmfault.FlagTried)
	if p := f.CachedPage(6, e.task); p != nil {
		p.Put()
		t.Fatal("fault-around may map the page marked for read-ahead")
	}
	for i := uint64(1); i < 8; i++ {
		if i == 6 != (e.page(low+i*pg) == nil) {
			t.Errorf("page %d mapped %v after fault-around", i, e.page(low+i*pg) != nil)
		}
	}
	if ret := e.fault(low+6*pg, read); !resolved(ret) {
		t.Fatalf("fault on the marked page = %v, want it resolved at once", ret)
	}
	if ret := e.fault(low+8*pg, read); !resolved(ret) {
		t.Fatalf("fault after the first window = %v: the next window was not read ahead", ret)
	}
	// The fault on page 8 hit the second window's mark and read a third.
	if ret := e.fault(low+16*pg, read); !resolved(ret) {
		t.Fatalf("fault in the third window = %v, want it read ahead", ret)
	}
	if ret := e.fault(low+40*pg, read); ret != vmfault.Retry|vmfault.Major {
		t.Fatalf("fault past the windows read = %v, want a major fault", ret)
	}
}

// TestReclaimLeastRecentlyUsed: reclaim takes the page used longest ago
// first, whatever the order of the cache.
func TestReclaimLeastRecentlyUsed(t *testing.T) {
	e, f, cg, task := chargedFile(t, 8, 0x21, 1, ro)
	order := []uint64{5, 2, 7, 0, 3, 6, 1, 4}
	for _, i := range order {
		e.faultAs(task, low+i*pg, read)
		e.faultAs(task, low+i*pg, read|vmfault.FlagTried)
	}
	for n, i := range order {
		if got := memory.ReclaimFiles([]*memory.File{f}, cg, 1); got != 1 {
			t.Fatalf("reclaim %d freed %d pages", n, got)
		}
		if e.page(low+i*pg) != nil {
			t.Fatalf("reclaim %d did not take page %d, the least recently used", n, i)
		}
	}
}

// TestWriteAllCharges: a file's pages are charged to the memory cgroup of
// the task that writes them (filemap_add_folio): a root writer's stay hot
// and charged to nobody; a group's are made at once, dirty and charged,
// and over the group's limit its reclaim writes the oldest back and drops
// them (a refault reads what was written); dropping the cache uncharges.
func TestWriteAllCharges(t *testing.T) {
	tests := []struct {
		name    string
		group   bool
		limit   int64 // pages; 0: none
		pages   int
		cached  int // pages cached after the write
		charged int64
	}{
		{"root writer", false, 0, 8, 0, 0},
		{"group, no limit", true, 0, 8, 8, 8},
		{"group, over the limit", true, 4, 8, 4, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			f := memory.NewFile("f", uint64(tc.pages)*pg, 0x5c, e.alloc, memory.NewDisk(config.Version{Major: 6, Minor: 18}), 1)
			cg := &phys.MemCG{}
			if tc.limit > 0 {
				cg.SetLimit(tc.limit)
			}
			cg.Reclaim = func(n int64) int64 { return memory.ReclaimFiles([]*memory.File{f}, cg, min(n, 1)) }
			var writer memory.Faulter = &faulter{}
			if tc.group {
				writer = &cgFaulter{cg: cg}
			}
			before := e.inUse()
			if !f.WriteAll(writer) {
				t.Fatal("WriteAll failed")
			}
			if got := e.inUse() - before; got != int64(tc.cached) {
				t.Errorf("%d frames made, want %d", got, tc.cached)
			}
			if usage, _ := cg.Usage(); usage != tc.charged {
				t.Errorf("group charged %d pages, want %d", usage, tc.charged)
			}
			e.mapAt(low, tc.pages, ro, mm.MapShared, f)
			reader := &cgFaulter{cg: &phys.MemCG{}}
			for i := range tc.pages {
				addr := low + uint64(i)*pg
				ret := e.faultAs(reader, addr, read)
				if ret&vmfault.Retry != 0 {
					ret = e.faultAs(reader, addr, read|vmfault.FlagTried)
				}
				if !resolved(ret) {
					t.Fatalf("page %d faults %v", i, ret)
				}
				if p := e.page(addr); p == nil || p.Data()[pg-1] != 0x5c {
					t.Fatalf("page %d does not read the file", i)
				}
				if p := e.page(addr); i >= tc.pages-tc.cached && p.MemCG() != cgOf(writer) {
					t.Errorf("page %d is charged to %p, want the writer's group", i, p.MemCG())
				}
			}
			e.m.Munmap(ns, low, uint64(tc.pages)*pg)
			f.Release()
			if usage, _ := cg.Usage(); usage != 0 {
				t.Errorf("%d pages still charged after the cache went", usage)
			}
		})
	}
}

func cgOf(t memory.Faulter) *phys.MemCG { return t.MemCG() }

// TestWritePagesStopsWhenDying: a writer with a fatal signal pending
// writes nothing more (generic_perform_write's fatal_signal_pending).
func TestWritePagesStopsWhenDying(t *testing.T) {
	e := newEnv(t, true)
	f := memory.NewFile("f", 4*pg, 0, e.alloc, memory.NewDisk(config.Version{Major: 6, Minor: 18}), 1)
	w := &dyingFaulter{cgFaulter{cg: &phys.MemCG{}}}
	if f.WritePages(w, 0, 4) {
		t.Error("a dying writer's write succeeded")
	}
	if usage, _ := w.cg.Usage(); usage != 0 {
		t.Errorf("a dying writer charged %d pages", usage)
	}
}

type dyingFaulter struct{ cgFaulter }

func (*dyingFaulter) FatalSignalPending() bool { return true }

// TestTruncateGrowZeroesOldTail: growing a file zeroes the bytes past its
// new size in the last page on every kernel (truncate_pagecache), and the
// bytes between the old size and the new one only from 6.12 (ext4's
// tail zeroing of the old EOF block).
func TestTruncateGrowZeroesOldTail(t *testing.T) {
	cases := []struct {
		ver     config.Version
		oldTail byte // at 3000, between the old size 2000 and the new 3500
	}{
		{config.Version{Major: 6, Minor: 1}, 0x77},
		{config.Version{Major: 6, Minor: 11}, 0x77},
		{config.Version{Major: 6, Minor: 12}, 0},
		{config.Version{Major: 7, Minor: 2}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.ver.String(), func(t *testing.T) {
			e := newEnv(t, true)
			f := memory.NewFile("f", 2000, 0x61, e.alloc, memory.NewDisk(tc.ver), 1)
			p := f.CachedPage(0, e.task)
			if p == nil {
				t.Fatal("the written file's page is not cached")
			}
			defer p.Put()
			data := p.Data()
			data[3000], data[3900] = 0x77, 0x77 // stores through a shared mapping
			f.Truncate(e.task, 3500)
			if got := data[1999]; got != 0x61 {
				t.Errorf("byte 1999 = %#x, want the file's 0x61", got)
			}
			if got := data[3000]; got != tc.oldTail {
				t.Errorf("byte 3000 = %#x, want %#x", got, tc.oldTail)
			}
			if got := data[3900]; got != 0 {
				t.Errorf("byte 3900, past the new size, = %#x, want 0", got)
			}
		})
	}
}
