package memory_test

import (
	"testing"

	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

// TestAnonFirstTouch faults fresh anonymous private memory once.
func TestAnonFirstTouch(t *testing.T) {
	tests := []struct {
		name     string
		zeroPage bool
		prot     mm.Prot
		flags    vmfault.Flags
		zero     bool // the entry maps the zero page
		writable bool
		inUse    int64
	}{
		{"read, zero page on", true, rw, read, true, false, 0},
		{"read of read-only, zero page on", true, ro, read, true, false, 0},
		{"read, zero page off", false, rw, read, false, true, 1},
		{"read of read-only, zero page off", false, ro, read, false, false, 1},
		{"write, zero page on", true, rw, write, false, true, 1},
		{"write, zero page off", false, rw, write, false, true, 1},
		{"exec fetch, zero page on", true, mm.ProtRead | mm.ProtExec, read | vmfault.FlagInstruction, true, false, 0},
		{"kernel-mode write", true, rw, vmfault.FlagDefault | vmfault.FlagWrite, false, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.zeroPage)
			// Leave a dirty frame on the free list: a new page must come zeroed.
			if p, err := e.alloc.Alloc(phys.FlagAnon); err == nil {
				p.Data()[100] = 0xee
				p.Put()
			}
			e.mapAt(low, 2, tc.prot, 0, nil)
			if ret := e.fault(low+0x123, tc.flags); ret != 0 {
				t.Fatalf("HandleMMFault = %v, want 0", ret)
			}
			p := e.pte(low)
			if !p.Present() || !p.Has(pgtable.User|pgtable.Read) {
				t.Fatalf("entry %v, want a present user-readable entry", p)
			}
			if got := p.PFN() == e.alloc.ZeroPage().PFN(); got != tc.zero {
				t.Errorf("entry %v maps the zero page: %v, want %v", p, got, tc.zero)
			}
			if p.Has(pgtable.Special) != tc.zero {
				t.Errorf("entry %v: special %v, want %v", p, p.Has(pgtable.Special), tc.zero)
			}
			if p.Has(pgtable.Write) != tc.writable {
				t.Errorf("entry %v: writable %v, want %v", p, p.Has(pgtable.Write), tc.writable)
			}
			if tc.writable && !p.Has(pgtable.Dirty) {
				t.Errorf("writable entry %v is not dirty", p)
			}
			if got := e.inUse(); got != tc.inUse {
				t.Errorf("pages in use = %d, want %d", got, tc.inUse)
			}
			if !tc.zero {
				page := e.page(low)
				if page.MapCount() != 1 || page.Refs() != 1 || !page.Has(phys.FlagAnon) {
					t.Errorf("page: map count %d refs %d flags %#x", page.MapCount(), page.Refs(), page.Flags())
				}
				for i, b := range page.Data() {
					if b != 0 {
						t.Fatalf("new page byte %d = %#x", i, b)
					}
				}
			}
			if e.pte(low+pg) != 0 {
				t.Errorf("the next page was touched: %v", e.pte(low+pg))
			}
			if e.task.minor != 1 || e.task.major != 0 {
				t.Errorf("faults minor %d major %d, want 1 minor", e.task.minor, e.task.major)
			}
		})
	}
}

// TestAnonWriteAfterRead: with the zero page a write copies to a new
// page; without it, the page the read mapped is already writable and
// stays (host observation anon_write_after_read).
func TestAnonWriteAfterRead(t *testing.T) {
	tests := []struct {
		name      string
		zeroPage  bool
		samePFN   bool
		wantInUse int64
	}{
		{"zero page on", true, false, 1},
		{"zero page off", false, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.zeroPage)
			e.mapAt(low, 1, rw, 0, nil)
			if ret := e.fault(low, read); ret != 0 {
				t.Fatal(ret)
			}
			before := e.pte(low)
			if ret := e.fault(low+8, write); ret != 0 {
				t.Fatal(ret)
			}
			after := e.pte(low)
			if (before.PFN() == after.PFN()) != tc.samePFN {
				t.Errorf("pfn %d -> %d, same %v, want %v", before.PFN(), after.PFN(), before.PFN() == after.PFN(), tc.samePFN)
			}
			if !after.Has(pgtable.Write|pgtable.Dirty) || after.Has(pgtable.Special) || after.PFN() == e.alloc.ZeroPage().PFN() {
				t.Errorf("entry after the write %v, want a private writable dirty page", after)
			}
			if e.inUse() != tc.wantInUse {
				t.Errorf("pages in use %d, want %d", e.inUse(), tc.wantInUse)
			}
			if z := e.alloc.ZeroPage(); z.Refs() != 1 || z.MapCount() != 0 {
				t.Errorf("zero page refs %d map count %d", z.Refs(), z.MapCount())
			}
			if e.task.minor != 2 {
				t.Errorf("minor faults %d, want 2", e.task.minor)
			}
		})
	}
}

// TestAnonPresentEntry: a fault on an entry that already allows the
// access only sets the accessed and dirty bits.
func TestAnonPresentEntry(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 1, rw, 0, nil)
	e.fault(low, write)
	tab, i := e.m.PT.Lookup(low)
	tab.Lock()
	tab.Store(i, tab.Load(i)&^(pgtable.Accessed|pgtable.Dirty))
	tab.Unlock()
	pfn := e.pte(low).PFN()
	if ret := e.fault(low, write); ret != 0 {
		t.Fatal(ret)
	}
	if p := e.pte(low); p.PFN() != pfn || !p.Has(pgtable.Accessed|pgtable.Dirty|pgtable.Write) {
		t.Errorf("entry %v, want the same page marked accessed and dirty", p)
	}
	if e.inUse() != 1 {
		t.Errorf("pages in use %d", e.inUse())
	}
}

// TestCOW checks do_wp_page after fork: a page mapped twice is copied, a
// page mapped once is reused (host observations anon_fork_cow_*).
func TestCOW(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, parent, child *env, old *phys.Page)
	}{
		{"child writes while the parent maps the page", func(t *testing.T, p, c *env, old *phys.Page) {
			if ret := c.fault(low, write); ret != 0 {
				t.Fatal(ret)
			}
			cp := c.pte(low)
			if cp.PFN() == old.PFN() || !cp.Has(pgtable.Write) {
				t.Fatalf("child entry %v, want a writable copy", cp)
			}
			if c.page(low).Data()[0] != 0x11 {
				t.Error("the copy lost the data")
			}
			if old.MapCount() != 1 || old.Refs() != 1 {
				t.Errorf("old page map count %d refs %d, want 1 and 1", old.MapCount(), old.Refs())
			}
			if pp := p.pte(low); pp.PFN() != old.PFN() || pp.Has(pgtable.Write) {
				t.Errorf("parent entry %v, want the old page, still write-protected", pp)
			}
			// The parent now holds the only mapping: its write reuses it.
			if ret := p.fault(low, write); ret != 0 {
				t.Fatal(ret)
			}
			if pp := p.pte(low); pp.PFN() != old.PFN() || !pp.Has(pgtable.Write|pgtable.Dirty) {
				t.Errorf("parent entry %v, want the old page reused writable", pp)
			}
			if p.inUse() != 2 {
				t.Errorf("pages in use %d, want 2", p.inUse())
			}
		}},
		{"parent writes while the child maps the page", func(t *testing.T, p, c *env, old *phys.Page) {
			p.fault(low, write)
			if pp := p.pte(low); pp.PFN() == old.PFN() {
				t.Fatalf("parent entry %v was not copied", pp)
			}
			c.page(low).Data()[0] = 0x33 // the child's view
			if p.page(low).Data()[0] != 0x11 {
				t.Error("the child's page and the parent's copy are shared")
			}
			c.fault(low, write)
			if cp := c.pte(low); cp.PFN() != old.PFN() || !cp.Has(pgtable.Write) {
				t.Errorf("child entry %v, want the old page reused", cp)
			}
		}},
		{"parent writes after the child exited", func(t *testing.T, p, c *env, old *phys.Page) {
			c.m.Put()
			if old.MapCount() != 1 || old.Refs() != 1 {
				t.Fatalf("old page map count %d refs %d after the child exited", old.MapCount(), old.Refs())
			}
			p.fault(low, write)
			if pp := p.pte(low); pp.PFN() != old.PFN() || !pp.Has(pgtable.Write) {
				t.Errorf("parent entry %v, want the page reused", pp)
			}
			if p.inUse() != 1 {
				t.Errorf("pages in use %d, want 1", p.inUse())
			}
		}},
		{"a read after fork does not copy", func(t *testing.T, p, c *env, old *phys.Page) {
			if ret := c.fault(low, read); ret != 0 {
				t.Fatal(ret)
			}
			if c.pte(low).PFN() != old.PFN() || c.inUse() != 1 {
				t.Errorf("child entry %v, %d pages", c.pte(low), c.inUse())
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newEnv(t, true)
			p.mapAt(low, 1, rw, 0, nil)
			p.fault(low, write)
			old := p.page(low)
			old.Data()[0] = 0x11
			c := p.dup()
			if old.MapCount() != 2 || old.Refs() != 2 {
				t.Fatalf("after fork: map count %d refs %d", old.MapCount(), old.Refs())
			}
			tc.run(t, p, c, old)
		})
	}
}

// TestCOWOfZeroPageAfterFork: a zero-page entry is inherited and both
// sides copy to a new page on write.
func TestCOWOfZeroPageAfterFork(t *testing.T) {
	p := newEnv(t, true)
	p.mapAt(low, 1, rw, 0, nil)
	p.fault(low, read)
	c := p.dup()
	c.fault(low, write)
	p.fault(low, write)
	if p.pte(low).PFN() == c.pte(low).PFN() || p.inUse() != 2 {
		t.Errorf("parent %v child %v, %d pages", p.pte(low), c.pte(low), p.inUse())
	}
}

func TestMarkersAndSwap(t *testing.T) {
	tests := []struct {
		name  string
		entry pgtable.PTE
		flags vmfault.Flags
		want  vmfault.Reason
		after func(p pgtable.PTE) bool
	}{
		{"guard read", pgtable.MkMarker(pgtable.MarkerGuard), read, vmfault.SigSegv, func(p pgtable.PTE) bool { return p.Marker() == pgtable.MarkerGuard }},
		{"guard write", pgtable.MkMarker(pgtable.MarkerGuard), write, vmfault.SigSegv, func(p pgtable.PTE) bool { return p.Marker() == pgtable.MarkerGuard }},
		{"poison read", pgtable.MkMarker(pgtable.MarkerPoisoned), read, vmfault.HWPoison, func(p pgtable.PTE) bool { return p.Marker() == pgtable.MarkerPoisoned }},
		{"poison write", pgtable.MkMarker(pgtable.MarkerPoisoned), write, vmfault.HWPoison, func(p pgtable.PTE) bool { return p.Marker() == pgtable.MarkerPoisoned }},
		{"poison wins over guard", pgtable.MkMarker(pgtable.MarkerPoisoned | pgtable.MarkerGuard), read, vmfault.HWPoison, nil},
		{"poison wins over uffd-wp", pgtable.MkMarker(pgtable.MarkerPoisoned | pgtable.MarkerUffdWP), write, vmfault.HWPoison, nil},
		{"stale uffd-wp marker is dropped", pgtable.MkMarker(pgtable.MarkerUffdWP), write, 0, func(p pgtable.PTE) bool { return p.Present() && p.Has(pgtable.Write) }},
		{"stale uffd-wp marker, read", pgtable.MkMarker(pgtable.MarkerUffdWP), read, 0, func(p pgtable.PTE) bool { return p.Present() && p.Has(pgtable.Special) }},
		{"empty marker", pgtable.MkMarker(0), read, vmfault.SigBus, nil},
		{"swap entry", pgtable.MkSwap(1, 42), read, vmfault.SigBus, func(p pgtable.PTE) bool { return p.IsSwap() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			e.mapAt(low, 1, rw, 0, nil)
			e.setPTE(low, tc.entry)
			if ret := e.fault(low+0x40, tc.flags); ret != tc.want {
				t.Fatalf("HandleMMFault = %v, want %v", ret, tc.want)
			}
			if tc.after != nil && !tc.after(e.pte(low)) {
				t.Errorf("entry afterwards %v", e.pte(low))
			}
			wantMinor := 0
			if tc.want == 0 {
				wantMinor = 1
			}
			if e.task.minor != wantMinor || e.task.major != 0 {
				t.Errorf("faults minor %d major %d, want %d minor", e.task.minor, e.task.major, wantMinor)
			}
			wantInUse := int64(0)
			if tc.flags&vmfault.FlagWrite != 0 && tc.want == 0 {
				wantInUse = 1
			}
			if e.inUse() != wantInUse {
				t.Errorf("pages in use %d, want %d", e.inUse(), wantInUse)
			}
		})
	}
}

// TestSanitize: flag combinations no fault may carry are refused with
// VM_FAULT_SIGSEGV before anything is mapped.
func TestSanitize(t *testing.T) {
	tests := []struct {
		name      string
		noMayW    bool
		flags     vmfault.Flags
		want      vmfault.Reason
		wantEntry bool
	}{
		{"write without VM_MAYWRITE", true, write, vmfault.SigSegv, false},
		{"read without VM_MAYWRITE", true, read, 0, true},
		{"unshare with write", false, write | vmfault.FlagUnshare, vmfault.SigSegv, false},
		{"VMA lock with retry-nowait", false, read | vmfault.FlagVMALock | vmfault.FlagRetryNowait, vmfault.SigSegv, false},
		{"plain write", false, write, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			e.mapAt(low, 1, rw, 0, nil)
			if tc.noMayW {
				e.withVMA(low, func(v *mm.VMA) { v.Flags &^= mm.VMMayWrite })
			}
			if ret := e.fault(low, tc.flags); ret != tc.want {
				t.Fatalf("HandleMMFault = %v, want %v", ret, tc.want)
			}
			if got := e.pte(low).Present(); got != tc.wantEntry {
				t.Errorf("entry %v, present %v, want %v", e.pte(low), got, tc.wantEntry)
			}
			if tc.want != 0 && (e.task.minor != 0 || e.task.major != 0) {
				t.Errorf("a refused fault was accounted: minor %d major %d", e.task.minor, e.task.major)
			}
		})
	}
}

// TestAccessPermitted: the arch's pkey check refuses data accesses with
// VM_FAULT_SIGSEGV, never fetches.
func TestAccessPermitted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags vmfault.Flags
		want  vmfault.Reason
	}{
		{"read", read, vmfault.SigSegv},
		{"write", write, vmfault.SigSegv},
		{"fetch", read | vmfault.FlagInstruction, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvArch(t, true, testArch{deny: true})
			e.mapAt(low, 1, mm.ProtRead|mm.ProtWrite|mm.ProtExec, 0, nil)
			if ret := e.fault(low, tc.flags); ret != tc.want {
				t.Errorf("HandleMMFault = %v, want %v", ret, tc.want)
			}
		})
	}
}

func TestOOM(t *testing.T) {
	tests := []struct {
		name     string
		zeroPage bool
		setup    func(e *env)
		flags    vmfault.Flags
		want     vmfault.Reason
	}{
		{"write fault", true, nil, write, vmfault.OOM},
		{"read fault with the zero page needs no memory", true, nil, read, 0},
		{"read fault without the zero page", false, nil, read, vmfault.OOM},
		{"COW from the zero page", true, func(e *env) { e.fault(low, read) }, write, vmfault.OOM},
		{"COW of a shared page", true, func(e *env) {
			e.alloc.SetLimit(0)
			e.fault(low, write)
			e.dup()
			e.alloc.SetLimit(e.inUse())
		}, write, vmfault.OOM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.zeroPage)
			e.mapAt(low, 1, rw, 0, nil)
			e.alloc.SetLimit(1)
			hog, err := e.alloc.Alloc(phys.FlagAnon)
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(e)
			}
			before := e.pte(low)
			minor := e.task.minor
			if ret := e.fault(low, tc.flags); ret != tc.want {
				t.Fatalf("HandleMMFault = %v, want %v", ret, tc.want)
			}
			if tc.want == vmfault.OOM {
				if e.pte(low) != before {
					t.Errorf("entry changed from %v to %v by a failed fault", before, e.pte(low))
				}
				if e.task.minor != minor {
					t.Error("an OOM fault was accounted")
				}
			}
			hog.Put()
		})
	}
}

// TestSharedAnonWithoutBacking: shared memory with no object cannot be
// backed (do_anonymous_page on a VM_SHARED VMA).
func TestSharedAnonWithoutBacking(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 1, rw, mm.MapShared, nil)
	if ret := e.fault(low, read); ret != vmfault.SigBus {
		t.Errorf("HandleMMFault = %v, want SIGBUS", ret)
	}
	if e.task.minor != 0 {
		t.Error("a SIGBUS fault was accounted")
	}
}

func TestBackingWithoutFault(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 1, rw, mm.MapShared, opsOnly{})
	if ret := e.fault(low, read); ret != vmfault.SigBus {
		t.Errorf("HandleMMFault = %v, want SIGBUS", ret)
	}
}

// TestAccounting checks mm_account_fault: completed faults are counted
// once, major when they needed I/O or were retried; Retry and errors are
// not counted.
func TestAccounting(t *testing.T) {
	tests := []struct {
		name         string
		results      []vmfault.Reason
		flags        vmfault.Flags
		want         vmfault.Reason
		minor, major int
	}{
		{"minor", []vmfault.Reason{0}, read, 0, 1, 0},
		{"major from I/O", []vmfault.Reason{vmfault.Major}, read, vmfault.Major, 0, 1},
		{"tried counts as major", []vmfault.Reason{0}, read | vmfault.FlagTried, 0, 0, 1},
		{"retry is not counted", []vmfault.Reason{vmfault.Retry}, read, vmfault.Retry, 0, 0},
		{"retry with major is not counted", []vmfault.Reason{vmfault.Retry | vmfault.Major}, read, vmfault.Retry | vmfault.Major, 0, 0},
		{"sigbus is not counted", []vmfault.Reason{vmfault.SigBus}, read, vmfault.SigBus, 0, 0},
		{"oom is not counted", []vmfault.Reason{vmfault.OOM}, read, vmfault.OOM, 0, 0},
		{"hwpoison is not counted", []vmfault.Reason{vmfault.HWPoison}, read, vmfault.HWPoison, 0, 0},
		{"private write (COW fault) minor", []vmfault.Reason{0}, write, 0, 1, 0},
		{"private write after I/O major", []vmfault.Reason{vmfault.Major}, write, vmfault.Major, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			b := &scripted{alloc: e.alloc, results: tc.results}
			e.mapAt(low, 1, rw, 0, b)
			if ret := e.fault(low, tc.flags); ret != tc.want {
				t.Fatalf("HandleMMFault = %v, want %v", ret, tc.want)
			}
			if e.task.minor != tc.minor || e.task.major != tc.major {
				t.Errorf("faults minor %d major %d, want %d and %d", e.task.minor, e.task.major, tc.minor, tc.major)
			}
			if b.calls() != 1 {
				t.Errorf("->fault called %d times", b.calls())
			}
			if tc.want&vmfault.Error == 0 && tc.want&vmfault.Retry == 0 && !e.pte(low).Present() {
				t.Errorf("no entry after a successful fault: %v", e.pte(low))
			}
			if tc.want&(vmfault.Error|vmfault.Retry) != 0 && !e.pte(low).None() {
				t.Errorf("entry %v after a failed fault", e.pte(low))
			}
		})
	}
}

// TestBackingFaults checks do_read_fault, do_cow_fault and
// do_shared_fault with a backing that hands out one page.
func TestBackingFaults(t *testing.T) {
	tests := []struct {
		name   string
		shared bool
		flags  vmfault.Flags
		// own: the entry maps the backing's page (else a private copy).
		own, writable, dirty bool
	}{
		{"private read maps the backing page", false, read, true, false, false},
		{"private write maps a copy", false, write, false, true, true},
		{"shared read maps the backing page", true, read, true, true, false},
		{"shared write maps it dirty", true, write, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			b := &scripted{alloc: e.alloc, results: []vmfault.Reason{0}}
			var flags mm.MapFlags
			if tc.shared {
				flags = mm.MapShared
			}
			e.mapAt(low, 1, rw, flags, b)
			if ret := e.fault(low, tc.flags); ret != 0 {
				t.Fatalf("HandleMMFault = %v", ret)
			}
			b.page.Data()[7] = 0x77 // after the fault: a copy must not see it
			p := e.pte(low)
			if (p.PFN() == b.page.PFN()) != tc.own || p.Has(pgtable.Write) != tc.writable || p.Has(pgtable.Dirty) != tc.dirty {
				t.Fatalf("entry %v: own page %v writable %v dirty %v, want %v %v %v", p, p.PFN() == b.page.PFN(), p.Has(pgtable.Write), p.Has(pgtable.Dirty), tc.own, tc.writable, tc.dirty)
			}
			wantMap, wantRefs := int32(0), int32(1) // the backing's own reference
			if tc.own {
				wantMap, wantRefs = 1, 2
			} else if e.page(low).Data()[7] != 0 {
				t.Error("the private copy shares data with the backing page")
			}
			if b.page.MapCount() != wantMap || b.page.Refs() != wantRefs {
				t.Errorf("backing page map count %d refs %d, want %d and %d", b.page.MapCount(), b.page.Refs(), wantMap, wantRefs)
			}
			if tc.shared && tc.flags&vmfault.FlagWrite != 0 && !b.page.Has(phys.FlagDirty) {
				t.Error("a shared write did not dirty the page")
			}
		})
	}
}

// TestPrivateBackingCOW: a write to a private mapping of a backing page
// already mapped read-only copies it.
func TestPrivateBackingCOW(t *testing.T) {
	e := newEnv(t, true)
	b := &scripted{alloc: e.alloc, results: []vmfault.Reason{0}}
	e.mapAt(low, 1, rw, 0, b)
	e.fault(low, read)
	b.page.Data()[0] = 0x61
	if ret := e.fault(low, write); ret != 0 {
		t.Fatal(ret)
	}
	p := e.pte(low)
	if p.PFN() == b.page.PFN() || !p.Has(pgtable.Write) {
		t.Fatalf("entry %v, want a writable private copy", p)
	}
	if e.page(low).Data()[0] != 0x61 || !e.page(low).Has(phys.FlagAnon) {
		t.Error("the copy does not hold the backing's data or is not anonymous")
	}
	if b.page.MapCount() != 0 || b.page.Refs() != 1 {
		t.Errorf("backing page map count %d refs %d, want 0 and 1", b.page.MapCount(), b.page.Refs())
	}
	if b.calls() != 1 {
		t.Errorf("->fault called %d times; the COW must not ask again", b.calls())
	}
}

// TestBackingRetryReleasesLock: a Retry from ->fault leaves no lock held.
func TestBackingRetryReleasesLock(t *testing.T) {
	e := newEnv(t, true)
	b := &scripted{alloc: e.alloc, results: []vmfault.Reason{vmfault.Retry, 0}}
	e.mapAt(low, 1, rw, 0, b)
	if ret := e.fault(low, read); ret != vmfault.Retry {
		t.Fatalf("first attempt = %v", ret)
	}
	if ret := e.fault(low, read|vmfault.FlagTried); ret != 0 {
		t.Fatalf("retry = %v", ret)
	}
	if b.lastFlags()&vmfault.FlagTried == 0 {
		t.Error("the retry did not carry FAULT_FLAG_TRIED")
	}
	if e.task.major != 1 || e.task.minor != 0 {
		t.Errorf("faults minor %d major %d, want one major", e.task.minor, e.task.major)
	}
}

// TestHStateShift: PMD- then PUD-sized pages, over each base page (arm64:
// 2 MiB and 1 GiB over 4 KiB, 32 MiB over 16 KiB, 512 MiB over 64 KiB).
func TestHStateShift(t *testing.T) {
	for _, tc := range []struct {
		idx   int
		shift uint
		want  uint
	}{{0, 12, 21}, {1, 12, 30}, {2, 12, 0}, {-1, 12, 0}, {0, 14, 25}, {0, 16, 29}, {1, 14, 36}} {
		if got := memory.HStateShift(tc.idx, tc.shift); got != tc.want {
			t.Errorf("HStateShift(%d, %d) = %d, want %d", tc.idx, tc.shift, got, tc.want)
		}
	}
}

// TestNUMAHintingEntry: a PROT_NONE-style entry in an accessible VMA (a
// NUMA hinting fault) gets the VMA's protection back, keeping its frame.
func TestNUMAHintingEntry(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 1, rw, 0, nil)
	e.fault(low, write)
	old := e.pte(low)
	e.setPTE(low, old&^pgtable.Present|pgtable.ProtNone)
	if ret := e.fault(low, read); ret != 0 {
		t.Fatal(ret)
	}
	p := e.pte(low)
	if !p.Present() || p.Has(pgtable.ProtNone) || p.PFN() != old.PFN() || !p.Has(pgtable.Read|pgtable.User) {
		t.Errorf("entry %v, want the old frame present again", p)
	}
	if e.inUse() != 1 {
		t.Errorf("pages in use %d", e.inUse())
	}
}
