package mm_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
)

var (
	taskSize = testArch{}.TaskSize()
	mmapBase = testArch{}.MmapBase()
)

func TestMmapErrors(t *testing.T) {
	tests := []struct {
		name string
		req  mm.MapRequest
		want abi.Errno
	}{
		{"zero length", mm.MapRequest{Length: 0, Prot: rw}, abi.EINVAL},
		{"zero length fixed", mm.MapRequest{Addr: low, Length: 0, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.EINVAL},
		{"longer than the task size", mm.MapRequest{Length: taskSize + pg, Prot: rw}, abi.ENOMEM},
		{"length overflows when page-aligned", mm.MapRequest{Length: ^uint64(0), Prot: rw}, abi.ENOMEM},
		{"unaligned fixed address", mm.MapRequest{Addr: low + 1, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.EINVAL},
		{"fixed address overlapping the middle", mm.MapRequest{Addr: low + pg, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.EEXIST},
		{"fixed range overlapping the start", mm.MapRequest{Addr: low - pg, Length: 2 * pg, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.EEXIST},
		{"fixed range overlapping the end", mm.MapRequest{Addr: low + 2*pg, Length: 2 * pg, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.EEXIST},
		{"fixed range covering it", mm.MapRequest{Addr: low - pg, Length: 5 * pg, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.EEXIST},
		{"fixed range ending beyond the task size", mm.MapRequest{Addr: taskSize - pg, Length: 2 * pg, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.ENOMEM},
		{"fixed at the task size", mm.MapRequest{Addr: taskSize, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace}, abi.ENOMEM},
		{"no room below mmap_base", mm.MapRequest{Length: mmapBase, Prot: rw}, abi.ENOMEM},
		{"file offset wrapping", mm.MapRequest{Length: 2 * pg, Prot: rw, Ops: &countingOps{}, PgOff: ^uint64(0)}, abi.EOVERFLOW},
		{"file mapping past MAX_LFS_FILESIZE", mm.MapRequest{Length: pg, Prot: rw, Ops: &countingOps{}, PgOff: 1<<51 - 1}, abi.EOVERFLOW},
		{"growsdown shared", mm.MapRequest{Length: pg, Prot: rw, Flags: mm.MapGrowsDown | mm.MapShared}, abi.EINVAL},
		{"growsdown hugetlb", mm.MapRequest{Length: (2 << 20), Prot: rw, Flags: mm.MapGrowsDown | mm.MapHugetlb}, abi.EINVAL},
		{"growsdown overlapping: EEXIST first", mm.MapRequest{Addr: low, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace | mm.MapGrowsDown | mm.MapShared}, abi.EEXIST},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(low, 3, rw, 0)
			addr, err := f.m.Mmap(ns, tc.req)
			wantErrno(t, "Mmap", err, tc.want)
			if addr != 0 {
				t.Errorf("failed Mmap returned address %#x", addr)
			}
			f.check()
			f.wantSpans(span{low, low + 3*pg, mm.VMRead | mm.VMWrite})
		})
	}
}

func TestMmapFixedEdges(t *testing.T) {
	f := setup(t)
	f.mapAt(taskSize-pg, 1, rw, 0) // the highest page
	f.mapAt(low, 1, ro, 0)
	f.mapAt(low+pg, 1, rw, 0) // adjacent above, not overlapping
	f.mapAt(low-pg, 1, rw, 0) // adjacent below
	f.check()
	f.wantSpans(
		span{low - pg, low, mm.VMRead | mm.VMWrite},
		span{low, low + pg, mm.VMRead},
		span{low + pg, low + 2*pg, mm.VMRead | mm.VMWrite},
		span{taskSize - pg, taskSize, mm.VMRead | mm.VMWrite},
	)
}

// TestMmapFlags checks the VMA flags mmap derives from prot and flags.
func TestMmapFlags(t *testing.T) {
	may := mm.VMMayRead | mm.VMMayWrite | mm.VMMayExec
	tests := []struct {
		name  string
		prot  mm.Prot
		flags mm.MapFlags
		want  mm.VMFlags
	}{
		{"private rw", rw, 0, mm.VMRead | mm.VMWrite | may},
		{"prot none", none, 0, may},
		{"exec only", mm.ProtExec, 0, mm.VMExec | may},
		{"shared", ro, mm.MapShared, mm.VMRead | mm.VMShared | mm.VMMayShare | may},
		{"growsdown", rw, mm.MapGrowsDown, mm.VMRead | mm.VMWrite | mm.VMGrowsDown | may},
		{"locked", rw, mm.MapLocked, mm.VMRead | mm.VMWrite | mm.VMLocked | may},
		{"noreserve", rw, mm.MapNoReserve, mm.VMRead | mm.VMWrite | mm.VMNoReserve | may},
		{"hugetlb", rw, mm.MapHugetlb, mm.VMRead | mm.VMWrite | mm.VMHugetlb | may},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(low, 2, tc.prot, tc.flags)
			v := f.vma(low)
			if v == nil {
				t.Fatal("no VMA")
			}
			if v.Flags != tc.want {
				t.Errorf("Flags = %v (%#x), want %v (%#x)", v.Flags, uint64(v.Flags), tc.want, uint64(tc.want))
			}
			if v.PageProt != (testArch{}).PageProt(tc.want, 0) {
				t.Errorf("PageProt = %v, want the arch's protection for the flags", v.PageProt)
			}
			pages := uint64(2)
			if tc.flags&mm.MapHugetlb != 0 {
				pages = (2 << 20) / pg // rounded up to a whole huge page
			}
			if v.PgOff != low/pg || v.Pages() != pages || v.MM() != f.m || !v.Anonymous() || v.Shared() != (tc.flags&mm.MapShared != 0) {
				t.Errorf("PgOff %#x Pages %d Anonymous %v Shared %v", v.PgOff, v.Pages(), v.Anonymous(), v.Shared())
			}
		})
	}
}

// TestMmapTopDown checks where mappings without an address go: the
// highest free range below mmap_base, keeping stack_guard_gap free below
// growsdown VMAs.
func TestMmapTopDown(t *testing.T) {
	gap := uint64(256) * pg
	tests := []struct {
		name   string
		layout func(f *fixture)
		pages  int
		want   uint64
	}{
		{"empty", func(*fixture) {}, 3, mmapBase - 3*pg},
		{"below an ordinary VMA", func(f *fixture) { f.mapAt(mmapBase-16*pg, 16, ro, 0) }, 1, mmapBase - 17*pg},
		{"below a growsdown VMA, past its guard gap", func(f *fixture) { f.mapAt(mmapBase-16*pg, 16, rw, mm.MapGrowsDown) }, 1, mmapBase - 16*pg - gap - pg},
		{"into a hole that fits", func(f *fixture) {
			f.mapAt(mmapBase-10*pg, 10, ro, 0)
			f.mapAt(mmapBase-20*pg, 8, ro, 0) // hole [base-12p, base-10p)
		}, 2, mmapBase - 12*pg},
		{"past a hole too small", func(f *fixture) {
			f.mapAt(mmapBase-10*pg, 10, ro, 0)
			f.mapAt(mmapBase-20*pg, 8, ro, 0)
		}, 3, mmapBase - 23*pg},
		{"a hole inside the guard gap does not count", func(f *fixture) {
			f.mapAt(mmapBase-5*pg, 5, rw, mm.MapGrowsDown)
			f.mapAt(mmapBase-300*pg, 250, ro, 0) // 45-page hole, inside the gap
		}, 1, mmapBase - 301*pg},
		{"the gap of a growsdown VMA above mmap_base", func(f *fixture) { f.mapAt(mmapBase, 4, rw, mm.MapGrowsDown) }, 1, mmapBase - gap - pg},
		{"VMAs above mmap_base are ignored", func(f *fixture) { f.mapAt(mmapBase, 4, ro, 0) }, 2, mmapBase - 2*pg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			tc.layout(f)
			addr, err := f.m.Mmap(ns, mm.MapRequest{Length: uint64(tc.pages) * pg, Prot: mm.ProtExec})
			wantErrno(t, "Mmap", err, 0)
			if addr != tc.want {
				t.Errorf("Mmap placed %d pages at %#x, want %#x", tc.pages, addr, tc.want)
			}
			f.check()
			if v := f.vma(addr); v == nil || v.Start != addr || v.End != addr+uint64(tc.pages)*pg {
				t.Errorf("VMA at %#x = %v", addr, v)
			}
		})
	}
}

// TestMmapTopDownGap checks that the gap below a growsdown VMA follows the
// configured stack_guard_gap.
func TestMmapTopDownGap(t *testing.T) {
	f := setup(t, func(c *config.Kernel) { c.StackGuardGap = 4 })
	f.mapAt(mmapBase-pg, 1, rw, mm.MapGrowsDown)
	addr, err := f.m.Mmap(ns, mm.MapRequest{Length: pg, Prot: ro})
	wantErrno(t, "Mmap", err, 0)
	if want := mmapBase - pg - 4*pg - pg; addr != want {
		t.Errorf("Mmap = %#x, want %#x", addr, want)
	}
}

func TestMmapMerge(t *testing.T) {
	type m struct {
		off   uint64 // pages from low
		n     int
		prot  mm.Prot
		flags mm.MapFlags
	}
	tests := []struct {
		name string
		maps []m
		want []span
	}{
		{"adjacent compatible", []m{{0, 1, rw, 0}, {1, 2, rw, 0}}, []span{{low, low + 3*pg, mm.VMRead | mm.VMWrite}}},
		{"adjacent below", []m{{1, 1, rw, 0}, {0, 1, rw, 0}}, []span{{low, low + 2*pg, mm.VMRead | mm.VMWrite}}},
		{"filling a hole merges three", []m{{0, 1, ro, 0}, {2, 1, ro, 0}, {1, 1, ro, 0}}, []span{{low, low + 3*pg, mm.VMRead}}},
		{"different protection", []m{{0, 1, rw, 0}, {1, 1, ro, 0}}, []span{{low, low + pg, mm.VMRead | mm.VMWrite}, {low + pg, low + 2*pg, mm.VMRead}}},
		{"not adjacent", []m{{0, 1, rw, 0}, {2, 1, rw, 0}}, []span{{low, low + pg, mm.VMRead | mm.VMWrite}, {low + 2*pg, low + 3*pg, mm.VMRead | mm.VMWrite}}},
		{"shared next to private", []m{{0, 1, rw, 0}, {1, 1, rw, mm.MapShared}}, []span{{low, low + pg, mm.VMRead | mm.VMWrite}, {low + pg, low + 2*pg, mm.VMRead | mm.VMWrite}}},
		{"locked next to unlocked", []m{{0, 1, rw, 0}, {1, 1, rw, mm.MapLocked}}, []span{{low, low + pg, mm.VMRead | mm.VMWrite}, {low + pg, low + 2*pg, mm.VMRead | mm.VMWrite}}},
		{"growsdown next to ordinary", []m{{0, 1, rw, 0}, {1, 1, rw, mm.MapGrowsDown}}, []span{{low, low + pg, mm.VMRead | mm.VMWrite}, {low + pg, low + 2*pg, mm.VMRead | mm.VMWrite}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			for _, mp := range tc.maps {
				f.mapAt(low+mp.off*pg, mp.n, mp.prot, mp.flags)
			}
			f.check()
			f.wantSpans(tc.want...)
			if got := f.vmaCount(); got != len(tc.want) {
				t.Errorf("VMACount() = %d, want %d", got, len(tc.want))
			}
		})
	}
}

// TestMmapMergeTopDown: consecutive anonymous mappings without an address
// end up in one VMA.
func TestMmapMergeTopDown(t *testing.T) {
	f := setup(t)
	for i := 0; i < 4; i++ {
		if _, err := f.m.Mmap(ns, mm.MapRequest{Length: pg, Prot: rw}); err != 0 {
			t.Fatal(err)
		}
	}
	f.check()
	f.wantSpans(span{mmapBase - 4*pg, mmapBase, mm.VMRead | mm.VMWrite})
}

func TestMunmap(t *testing.T) {
	rwf := mm.VMRead | mm.VMWrite
	tests := []struct {
		name   string
		addr   uint64
		length uint64
		want   []span
		inUse  int64 // pages left allocated (3 were populated)
	}{
		{"middle page", low + pg, pg, []span{{low, low + pg, rwf}, {low + 2*pg, low + 3*pg, rwf}}, 2},
		{"first page", low, pg, []span{{low + pg, low + 3*pg, rwf}}, 2},
		{"last page", low + 2*pg, pg, []span{{low, low + 2*pg, rwf}}, 2},
		{"everything", low, 3 * pg, nil, 0},
		{"a superset", low - 10*pg, 20 * pg, nil, 0},
		{"nothing mapped there", low + 100*pg, 5 * pg, []span{{low, low + 3*pg, rwf}}, 3},
		{"one byte unmaps the page", low + pg, 1, []span{{low, low + pg, rwf}, {low + 2*pg, low + 3*pg, rwf}}, 2},
		{"the tail from inside", low + pg, 100 * pg, []span{{low, low + pg, rwf}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(low, 3, rw, 0)
			f.populate(low, 3)
			wantErrno(t, "Munmap", f.m.Munmap(ns, tc.addr, tc.length), 0)
			f.check()
			f.wantSpans(tc.want...)
			if got := f.inUse(); got != tc.inUse {
				t.Errorf("pages in use = %d, want %d", got, tc.inUse)
			}
			for a := low; a < low+3*pg; a += pg {
				mapped := f.vma(a) != nil
				if f.pte(a).Mapped() != mapped {
					t.Errorf("page %#x: entry %v with VMA %v", a, f.pte(a), mapped)
				}
			}
		})
	}
}

func TestMunmapErrors(t *testing.T) {
	tests := []struct {
		name         string
		addr, length uint64
	}{
		{"unaligned address", low + 1, pg},
		{"zero length", low, 0},
		{"beyond the task size", taskSize - pg, 2 * pg},
		{"address above the task size", taskSize + pg, pg},
		{"length overflows", low, ^uint64(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(low, 3, rw, 0)
			wantErrno(t, "Munmap", f.m.Munmap(ns, tc.addr, tc.length), abi.EINVAL)
			f.check()
			f.wantSpans(span{low, low + 3*pg, mm.VMRead | mm.VMWrite})
		})
	}
}

// TestFindVMA checks find_vma and vma_lookup after a munmap made a hole.
func TestFindVMA(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 3, rw, 0)
	wantErrno(t, "Munmap", f.m.Munmap(ns, low+pg, pg), 0)
	tests := []struct {
		name       string
		addr       uint64
		findStart  uint64 // 0: nil
		lookupNone bool
	}{
		{"below everything", 0x1000, low, true},
		{"first byte", low, low, false},
		{"last byte of the lower VMA", low + pg - 1, low, false},
		{"in the hole", low + pg, low + 2*pg, true},
		{"last byte of the hole", low + 2*pg - 1, low + 2*pg, true},
		{"upper VMA", low + 2*pg, low + 2*pg, false},
		{"end of the upper VMA", low + 3*pg, 0, true},
		{"last address", ^uint64(0), 0, true},
	}
	f.m.MmapReadLock(ns, 0)
	defer f.m.MmapReadUnlock()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := f.m.FindVMA(tc.addr)
			switch {
			case tc.findStart == 0 && v != nil:
				t.Errorf("FindVMA(%#x) = [%#x,%#x), want nil", tc.addr, v.Start, v.End)
			case tc.findStart != 0 && (v == nil || v.Start != tc.findStart):
				t.Errorf("FindVMA(%#x) = %v, want the VMA at %#x", tc.addr, v, tc.findStart)
			}
			l := f.m.VMALookup(tc.addr)
			if (l == nil) != tc.lookupNone || l != nil && l != v {
				t.Errorf("VMALookup(%#x) = %v, want nil %v", tc.addr, l, tc.lookupNone)
			}
			if l != nil && !l.Contains(tc.addr) {
				t.Errorf("VMALookup(%#x) returned a VMA not containing it", tc.addr)
			}
		})
	}
}

func TestMprotect(t *testing.T) {
	rwf, rf := mm.VMRead|mm.VMWrite, mm.VMRead
	tests := []struct {
		name string
		run  func(f *fixture) abi.Errno
		err  abi.Errno
		want []span
	}{
		{"middle page splits into three", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low+pg, pg, ro)
		}, 0, []span{{low, low + pg, rwf}, {low + pg, low + 2*pg, rf}, {low + 2*pg, low + 3*pg, rwf}}},
		{"restoring the middle merges back", func(f *fixture) abi.Errno {
			if err := f.m.Mprotect(ns, low+pg, pg, ro); err != 0 {
				return err
			}
			return f.m.Mprotect(ns, low+pg, pg, rw)
		}, 0, []span{{low, low + 3*pg, rwf}}},
		{"first page", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low, pg, none)
		}, 0, []span{{low, low + pg, 0}, {low + pg, low + 3*pg, rwf}}},
		{"whole range", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low, 3*pg, ro)
		}, 0, []span{{low, low + 3*pg, rf}}},
		{"same protection changes nothing", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low+pg, pg, rw)
		}, 0, []span{{low, low + 3*pg, rwf}}},
		{"unaligned length rounds up", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low+pg, 1, ro)
		}, 0, []span{{low, low + pg, rwf}, {low + pg, low + 2*pg, rf}, {low + 2*pg, low + 3*pg, rwf}}},
		{"zero length", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low+pg, 0, ro)
		}, 0, []span{{low, low + 3*pg, rwf}}},
		{"unaligned address", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low+1, pg, ro)
		}, abi.EINVAL, []span{{low, low + 3*pg, rwf}}},
		{"starting in a hole", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low-pg, 2*pg, ro)
		}, abi.ENOMEM, []span{{low, low + 3*pg, rwf}}},
		{"running past the end", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low+2*pg, 2*pg, ro)
		}, abi.ENOMEM, []span{{low, low + 2*pg, rwf}, {low + 2*pg, low + 3*pg, rf}}},
		{"across a hole changes the part below it", func(f *fixture) abi.Errno {
			if err := f.m.Munmap(ns, low+pg, pg); err != 0 {
				return err
			}
			return f.m.Mprotect(ns, low, 3*pg, ro)
		}, abi.ENOMEM, []span{{low, low + pg, rf}, {low + 2*pg, low + 3*pg, rwf}}},
		{"length overflows", func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, low, ^uint64(0)-pg, ro)
		}, abi.ENOMEM, []span{{low, low + 3*pg, rwf}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(low, 3, rw, 0)
			wantErrno(t, "Mprotect", tc.run(f), tc.err)
			f.check()
			f.wantSpans(tc.want...)
		})
	}
}

// TestMprotectEACCES: a protection beyond VM_MAY* is refused.
func TestMprotectEACCES(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 2, ro, 0)
	f.withWrite(func() {
		v := f.m.FindVMA(low)
		v.StartWrite()
		v.Flags &^= mm.VMMayWrite
	})
	wantErrno(t, "Mprotect(rw)", f.m.Mprotect(ns, low, pg, rw), abi.EACCES)
	wantErrno(t, "Mprotect(r)", f.m.Mprotect(ns, low, pg, ro), 0)
	f.check()
	f.wantSpans(span{low, low + 2*pg, mm.VMRead})
}

// TestMprotectEntries follows one populated private page through
// protection changes: its frame stays, its entry follows the VMA.
func TestMprotectEntries(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 1, rw, 0)
	f.populate(low, 1)
	page := f.page(low)
	if page == nil || !f.pte(low).Has(pgtable.Write) {
		t.Fatalf("populated entry %v", f.pte(low))
	}
	steps := []struct {
		prot                   mm.Prot
		present, write, protNo bool
	}{
		{ro, true, false, false},
		{none, false, false, true},
		{rw, true, true, false}, // an exclusive anonymous page is writable again
		{none, false, false, true},
		{ro, true, false, false},
	}
	for _, s := range steps {
		wantErrno(t, "Mprotect", f.m.Mprotect(ns, low, pg, s.prot), 0)
		p := f.pte(low)
		if p.Present() != s.present || p.Has(pgtable.Write) && s.present != s.write || p.Has(pgtable.ProtNone) != s.protNo || p.PFN() != page.PFN() {
			t.Fatalf("after mprotect %v: entry %v, want present %v write %v protnone %v pfn %d", s.prot, p, s.present, s.write, s.protNo, page.PFN())
		}
		if s.present && p.Has(pgtable.Write) != s.write {
			t.Fatalf("after mprotect %v: entry %v, write %v", s.prot, p, s.write)
		}
	}
	if page.MapCount() != 1 || page.Refs() != 1 || f.inUse() != 1 {
		t.Errorf("map count %d refs %d in use %d, want 1 1 1", page.MapCount(), page.Refs(), f.inUse())
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{mm.AccessRead.String(), "read"},
		{mm.AccessWrite.String(), "write"},
		{mm.AccessExec.String(), "exec"},
		{mm.Access(7).String(), "access?"},
		{mm.ProtNone.String(), "none"},
		{(mm.ProtRead | mm.ProtWrite | mm.ProtExec).String(), "rwx"},
		{mm.ProtExec.String(), "x"},
		{mm.VMFlags(0).String(), ""},
		{(mm.VMRead | mm.VMShared | mm.VMGrowsDown | mm.VMUffdWP).String(), "read|shared|growsdown|uffd-wp"},
		{(mm.VMWrite | mm.VMMayWrite | mm.VMLocked | mm.VMRandRead).String(), "write|locked|rand"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q, want %q", tc.got, tc.want)
		}
	}
}

// TestReleaseFaultLock releases whichever lock a fault holds.
func TestReleaseFaultLock(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 1, rw, 0)
	v := f.m.LockVMAUnderRCU(low)
	if v == nil {
		t.Fatal("no VMA")
	}
	mm.ReleaseFaultLock(v, true)
	f.check()
	f.m.MmapReadLock(ns, 0)
	mm.ReleaseFaultLock(f.m.FindVMA(low), false)
	f.check()
	if v.Pages() != 1 || !v.Contains(low) || v.Contains(low+pg) || v.IsCOW() != true || v.Accessible() != true || v.PageOffset(low+pg) != low/pg+1 {
		t.Errorf("VMA helpers: pages %d cow %v", v.Pages(), v.IsCOW())
	}
	if f.m.Arch() == nil || f.m.Config() != f.cfg || f.m.Phys() != f.alloc {
		t.Error("accessors")
	}
}

// countingOps is a backing that counts its references.
type countingOps struct{ opens, closes int }

func (c *countingOps) Name() string  { return "counting" }
func (c *countingOps) Open(*mm.VMA)  { c.opens++ }
func (c *countingOps) Close(*mm.VMA) { c.closes++ }

// TestMergeBacked: VMAs of one backing merge only when their offsets in
// it are contiguous; a merged-away VMA closes its reference, a split
// opens one.
func TestMergeBacked(t *testing.T) {
	tests := []struct {
		name    string
		pgoff   uint64 // of the second mapping, the first is at offset 10
		sameOps bool
		vmas    int
		closes  int
	}{
		{"contiguous offsets of two opens never merge", 11, true, 2, 0},
		{"offset gap", 12, true, 2, 0},
		{"offset overlap", 10, true, 2, 0},
		{"other backing", 11, false, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			a, b := &countingOps{}, &countingOps{}
			if tc.sameOps {
				b = a
			}
			for i, r := range []mm.MapRequest{
				{Addr: low, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace | mm.MapShared, Ops: a, PgOff: 10},
				{Addr: low + pg, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace | mm.MapShared, Ops: b, PgOff: tc.pgoff},
			} {
				if _, err := f.m.Mmap(ns, r); err != 0 {
					t.Fatalf("mmap %d: %v", i, err)
				}
			}
			f.check()
			if got := f.vmaCount(); got != tc.vmas {
				t.Errorf("VMACount() = %d, want %d", got, tc.vmas)
			}
			// Each new VMA opens the backing; a merge closes the one it absorbs.
			wantOpens := 1
			if tc.sameOps {
				wantOpens = 2
			}
			if a.closes != tc.closes || a.opens != wantOpens {
				t.Errorf("opens %d closes %d, want %d and %d", a.opens, a.closes, wantOpens, tc.closes)
			}
			if v := f.vma(low); v.PgOff != 10 || v.Ops != mm.VMOperations(a) {
				t.Errorf("first VMA pgoff %d", v.PgOff)
			}
			if v := f.vma(low + pg); v.PageOffset(low+pg) != tc.pgoff && tc.vmas == 2 {
				t.Errorf("second VMA maps offset %d, want %d", v.PageOffset(low+pg), tc.pgoff)
			}
		})
	}
}

// TestMergeBackedSplit: the pieces of one mapping of a backing merge again;
// a split opens a reference, the merge closes it.
func TestMergeBackedSplit(t *testing.T) {
	f := setup(t)
	a := &countingOps{}
	if _, err := f.m.Mmap(ns, mm.MapRequest{Addr: low, Length: 2 * pg, Prot: rw, Flags: mm.MapFixedNoReplace | mm.MapShared, Ops: a, PgOff: 10}); err != 0 {
		t.Fatal(err)
	}
	wantErrno(t, "Mprotect", f.m.Mprotect(ns, low+pg, pg, ro), 0)
	if a.opens != 2 || f.vmaCount() != 2 {
		t.Fatalf("after a split: opens %d, %d VMAs", a.opens, f.vmaCount())
	}
	if v := f.vma(low + pg); v.PgOff != 11 {
		t.Errorf("split-off VMA pgoff %d, want 11", v.PgOff)
	}
	wantErrno(t, "Mprotect", f.m.Mprotect(ns, low+pg, pg, rw), 0)
	if a.closes != 1 || f.vmaCount() != 1 {
		t.Errorf("after the merge: closes %d, %d VMAs", a.closes, f.vmaCount())
	}
	f.check()
}

// thpOps is a backing placed for transparent huge pages, like ext4.
type thpOps struct{ countingOps }

func (*thpOps) PlacesTHP() bool { return true }

// TestMmapTHPPlacement: anonymous memory of a multiple of 2 MiB, and file
// mappings covering an aligned 2 MiB of their file, start where their
// offset falls in a huge page; anything else is placed as usual.
func TestMmapTHPPlacement(t *testing.T) {
	const huge = (2 << 20)
	tests := []struct {
		name    string
		req     mm.MapRequest
		aligned bool   // placed congruent to the offset modulo 2 MiB
		off     uint64 // the backing offset in bytes
	}{
		{"anon 2M", mm.MapRequest{Length: huge, Prot: rw}, true, 0},
		{"anon 4M", mm.MapRequest{Length: 2 * huge, Prot: rw}, true, 0},
		{"anon 3M: not a multiple", mm.MapRequest{Length: 3 * huge / 2, Prot: rw}, false, 0},
		{"shared anon 2M", mm.MapRequest{Length: huge, Prot: rw, Flags: mm.MapShared, Ops: &countingOps{}}, false, 0},
		{"file 3M at 0", mm.MapRequest{Length: 3 * huge / 2, Prot: ro, Ops: &thpOps{}}, true, 0},
		{"file 2M at 1M: no aligned 2M", mm.MapRequest{Length: huge, Prot: ro, Ops: &thpOps{}, PgOff: huge / 2 / pg}, false, 0},
		{"file 3M at 1M: offset kept", mm.MapRequest{Length: 3 * huge / 2, Prot: ro, Ops: &thpOps{}, PgOff: huge / 2 / pg}, true, huge / 2},
		{"file 1M", mm.MapRequest{Length: huge / 2, Prot: ro, Ops: &thpOps{}}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(mmapBase-pg, 1, ro, 0) // the top page taken: a plain search starts unaligned
			addr, err := f.m.Mmap(ns, tc.req)
			wantErrno(t, "Mmap", err, 0)
			if got := (addr-tc.off)%huge == 0; got != tc.aligned {
				t.Errorf("placed at %#x: congruent to %#x modulo 2 MiB %v, want %v", addr, tc.off, got, tc.aligned)
			}
			f.check()
		})
	}
}
