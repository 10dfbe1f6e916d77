package mm_test

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
)

// entry kinds, as the madvise tests expect them page by page.
const (
	eNone  = 'n' // empty
	ePage  = 'p' // a mapped frame
	eGuard = 'g' // a guard marker
)

func (f *fixture) entries(addr uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		p := f.pte(addr + uint64(i)*pg)
		switch {
		case p.None():
			b[i] = eNone
		case p.Mapped():
			b[i] = ePage
		case p.IsMarker() && p.Marker() == pgtable.MarkerGuard:
			b[i] = eGuard
		default:
			b[i] = '?'
		}
	}
	return string(b)
}

// TestMadvise runs advice over three populated pages at low (with a hole
// at low+1p when hole is set) and checks the result, the entries of the
// three pages and the frames left in use.
func TestMadvise(t *testing.T) {
	type step struct {
		off, pages uint64
		advice     mm.Advice
		err        abi.Errno
	}
	tests := []struct {
		name    string
		hole    bool
		flags   mm.MapFlags
		steps   []step
		entries string
		inUse   int64
		vmas    int
	}{
		{"dontneed the middle", false, 0, []step{{1, 1, mm.AdviceDontneed, 0}}, "pnp", 2, 1},
		{"dontneed everything", false, 0, []step{{0, 3, mm.AdviceDontneed, 0}}, "nnn", 0, 1},
		{"dontneed across a hole", true, 0, []step{{0, 3, mm.AdviceDontneed, abi.ENOMEM}}, "nnn", 0, 2},
		{"dontneed of a hole only", true, 0, []step{{1, 1, mm.AdviceDontneed, abi.ENOMEM}}, "pnp", 2, 2},
		{"dontneed on a locked mapping", false, mm.MapLocked, []step{{0, 1, mm.AdviceDontneed, abi.EINVAL}}, "ppp", 3, 1},
		{"guard the middle", false, 0, []step{{1, 1, mm.AdviceGuardInstall, 0}}, "pgp", 2, 1},
		{"guard everything", false, 0, []step{{0, 3, mm.AdviceGuardInstall, 0}}, "ggg", 0, 1},
		{"guard twice", false, 0, []step{{1, 1, mm.AdviceGuardInstall, 0}, {0, 2, mm.AdviceGuardInstall, 0}}, "ggp", 1, 1},
		{"guard across a hole", true, 0, []step{{0, 3, mm.AdviceGuardInstall, abi.ENOMEM}}, "gng", 0, 2},
		{"guard on a locked mapping", false, mm.MapLocked, []step{{0, 1, mm.AdviceGuardInstall, abi.EINVAL}}, "ppp", 3, 1},
		{"guard survives dontneed", false, 0, []step{{1, 1, mm.AdviceGuardInstall, 0}, {0, 3, mm.AdviceDontneed, 0}}, "ngn", 0, 1},
		{"guard removed", false, 0, []step{{1, 1, mm.AdviceGuardInstall, 0}, {0, 3, mm.AdviceGuardRemove, 0}}, "pnp", 2, 1},
		{"guard remove where there is none", false, 0, []step{{0, 3, mm.AdviceGuardRemove, 0}}, "ppp", 3, 1},
		{"guard remove on a locked mapping", false, mm.MapLocked, []step{{0, 3, mm.AdviceGuardRemove, 0}}, "ppp", 3, 1},
		{"guard survives an mprotect round trip", false, 0, []step{{1, 1, mm.AdviceGuardInstall, 0}}, "pgp", 2, 1},
		{"random splits", false, 0, []step{{1, 1, mm.AdviceRandom, 0}}, "ppp", 3, 3},
		{"random over everything", false, 0, []step{{0, 3, mm.AdviceRandom, 0}}, "ppp", 3, 1},
		{"random merges back", false, 0, []step{{1, 1, mm.AdviceRandom, 0}, {0, 3, mm.AdviceRandom, 0}}, "ppp", 3, 1},
		{"random across a hole", true, 0, []step{{0, 3, mm.AdviceRandom, abi.ENOMEM}}, "pnp", 2, 2},
		{"random of a hole only", true, 0, []step{{1, 1, mm.AdviceRandom, abi.ENOMEM}}, "pnp", 2, 2},
		{"zero length", false, 0, []step{{1, 0, mm.AdviceDontneed, 0}, {1, 0, mm.AdviceGuardInstall, 0}}, "ppp", 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(low, 3, rw, tc.flags)
			f.populate(low, 3)
			if tc.hole {
				wantErrno(t, "Munmap", f.m.Munmap(ns, low+pg, pg), 0)
			}
			for _, s := range tc.steps {
				err := f.m.Madvise(ns, low+s.off*pg, s.pages*pg, s.advice)
				wantErrno(t, "Madvise", err, s.err)
			}
			if tc.name == "guard survives an mprotect round trip" {
				wantErrno(t, "Mprotect", f.m.Mprotect(ns, low, 3*pg, none), 0)
				wantErrno(t, "Mprotect", f.m.Mprotect(ns, low, 3*pg, rw), 0)
			}
			f.check()
			if got := f.entries(low, 3); got != tc.entries {
				t.Errorf("entries = %q, want %q", got, tc.entries)
			}
			if got := f.inUse(); got != tc.inUse {
				t.Errorf("pages in use = %d, want %d", got, tc.inUse)
			}
			if got := f.vmaCount(); got != tc.vmas {
				t.Errorf("VMACount() = %d, want %d", got, tc.vmas)
			}
		})
	}
}

// TestMadviseRandomFlags checks which VMAs MADV_RANDOM marks.
func TestMadviseRandomFlags(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 3, rw, 0)
	wantErrno(t, "Madvise", f.m.Madvise(ns, low+pg, pg, mm.AdviceRandom), 0)
	f.check()
	got := f.spans(true)
	if len(got) != 3 {
		t.Fatalf("VMAs = %v, want three", got)
	}
	for i, s := range got {
		if (s.flags&mm.VMRandRead != 0) != (i == 1) {
			t.Errorf("VMA %v: VMRandRead set %v, want %v", s, s.flags&mm.VMRandRead != 0, i == 1)
		}
		if s.start != low+uint64(i)*pg || s.end != s.start+pg {
			t.Errorf("VMA %d = %v", i, s)
		}
	}
}

func TestMadviseErrors(t *testing.T) {
	tests := []struct {
		name         string
		addr, length uint64
		want         abi.Errno
	}{
		{"unaligned address", low + 1, pg, abi.EINVAL},
		{"length overflows", low, ^uint64(0), abi.EINVAL},
		{"range wraps", low, ^uint64(0) - low - pg + 2, abi.EINVAL},
	}
	for _, tc := range tests {
		for _, adv := range []mm.Advice{mm.AdviceDontneed, mm.AdviceGuardInstall, mm.AdviceGuardRemove, mm.AdviceRandom} {
			t.Run(fmt.Sprintf("%s/advice %d", tc.name, adv), func(t *testing.T) {
				f := setup(t)
				f.mapAt(low, 3, rw, 0)
				f.populate(low, 3)
				wantErrno(t, "Madvise", f.m.Madvise(ns, tc.addr, tc.length, adv), tc.want)
				f.check()
				if got := f.entries(low, 3); got != "ppp" {
					t.Errorf("entries = %q after a refused madvise", got)
				}
			})
		}
	}
}

// TestCheckRange: madvise's range rules (an aligned start, the length
// rounded up to whole pages) follow the base page.
func TestCheckRange(t *testing.T) {
	const big = 64 << 10 // a 64 KiB page
	tests := []struct {
		name         string
		shift        uint
		addr, length uint64
		end          uint64
		err          abi.Errno
	}{
		{"one page", 12, low, pg, low + pg, 0},
		{"rounds up", 12, low, 1, low + pg, 0},
		{"empty", 12, low, 0, low, 0},
		{"unaligned", 12, low + 8, pg, 0, abi.EINVAL},
		{"overflow", 12, pg, ^uint64(0), 0, abi.EINVAL},
		{"up to the top", 12, ^uint64(0) - pg + 1, pg - 1, 0, abi.EINVAL},
		{"64k: one page", 16, big, big, 2 * big, 0},
		{"64k: rounds up to 64 KiB", 16, big, pg, 2 * big, 0},
		{"64k: a 4 KiB-aligned start is unaligned", 16, big + pg, pg, 0, abi.EINVAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			m := mm.New(testArch{}, &cfg, phys.NewAllocatorShift(tc.shift))
			end, err := m.CheckRange(tc.addr, tc.length)
			if end != tc.end || err != tc.err {
				t.Errorf("CheckRange(%#x, %#x) = %#x, %v, want %#x, %v", tc.addr, tc.length, end, err, tc.end, tc.err)
			}
		})
	}
}

// TestWalkRangeLocked checks the intersections and the hole report.
func TestWalkRangeLocked(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 2, rw, 0)
	f.mapAt(low+3*pg, 2, ro, 0)
	type iv struct{ s, e uint64 }
	tests := []struct {
		name       string
		start, end uint64
		want       []iv
		err        abi.Errno
	}{
		{"inside one", low + pg, low + 2*pg, []iv{{low + pg, low + 2*pg}}, 0},
		{"both, hole between", low, low + 5*pg, []iv{{low, low + 2*pg}, {low + 3*pg, low + 5*pg}}, abi.ENOMEM},
		{"hole before", low - pg, low + pg, []iv{{low, low + pg}}, abi.ENOMEM},
		{"hole after", low + 4*pg, low + 6*pg, []iv{{low + 4*pg, low + 5*pg}}, abi.ENOMEM},
		{"only a hole", low + 2*pg, low + 3*pg, nil, abi.ENOMEM},
		{"exactly both", low + pg, low + 2*pg, []iv{{low + pg, low + 2*pg}}, 0},
	}
	f.m.MmapReadLock(ns, 0)
	defer f.m.MmapReadUnlock()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []iv
			err := f.m.WalkRangeLocked(tc.start, tc.end, func(v *mm.VMA, s, e uint64) abi.Errno {
				if !v.Contains(s) || e > v.End {
					t.Errorf("intersection [%#x,%#x) outside its VMA [%#x,%#x)", s, e, v.Start, v.End)
				}
				got = append(got, iv{s, e})
				return 0
			})
			if err != tc.err || len(got) != len(tc.want) {
				t.Fatalf("WalkRangeLocked = %v, %v, want %v, %v", got, err, tc.want, tc.err)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("intersection %d = %#x, want %#x", i, got[i], tc.want[i])
				}
			}
		})
	}
	t.Run("error from fn stops the walk", func(t *testing.T) {
		n := 0
		err := f.m.WalkRangeLocked(low-pg, low+5*pg, func(*mm.VMA, uint64, uint64) abi.Errno { n++; return abi.EINVAL })
		if err != abi.EINVAL || n != 1 {
			t.Errorf("WalkRangeLocked = %v after %d calls, want EINVAL after 1", err, n)
		}
	})
}

// TestDontneedMarkers: MADV_DONTNEED drops poison markers and keeps guard
// and uffd-wp ones (zap_nonpresent_ptes); a uffd-wp-protected page of a
// VMA that is not anonymous leaves a uffd-wp marker
// (zap_install_uffd_wp_if_needed), of anonymous memory nothing.
func TestDontneedMarkers(t *testing.T) {
	marker := func(m pgtable.Marker) pgtable.PTE { return pgtable.MkMarker(m) }
	tests := []struct {
		name   string
		shared bool // shmem rather than private anonymous memory
		wp     bool // the VMA is registered for uffd-wp faults
		entry  pgtable.PTE
		want   pgtable.PTE // 0: none; 1: the page's entry with uffd-wp becomes this
	}{
		{"poison goes", false, false, marker(pgtable.MarkerPoisoned), 0},
		{"guard stays", false, false, marker(pgtable.MarkerGuard), marker(pgtable.MarkerGuard)},
		{"poison and guard", false, false, marker(pgtable.MarkerPoisoned | pgtable.MarkerGuard), marker(pgtable.MarkerGuard)},
		{"uffd-wp marker stays", true, true, marker(pgtable.MarkerUffdWP), marker(pgtable.MarkerUffdWP)},
		{"huge poison goes", false, false, marker(pgtable.MarkerPoisoned) | pgtable.Huge, 0},
		{"protected shmem page", true, true, 1, marker(pgtable.MarkerUffdWP)},
		{"protected anonymous page", false, true, 1, 0},
		{"shmem page, not registered", true, false, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			var ops mm.VMOperations
			var flags mm.MapFlags
			if tc.shared {
				ops, flags = memory.NewShmem(f.alloc, pg), mm.MapShared
			}
			got, err := f.m.Mmap(ns, mm.MapRequest{Addr: low, Length: pg, Prot: rw, Flags: flags | mm.MapFixedNoReplace, Ops: ops})
			if err != 0 || got != low {
				t.Fatalf("mmap: %#x, %v", got, err)
			}
			if tc.wp {
				f.withWrite(func() {
					v := f.m.VMALookup(low)
					v.StartWrite()
					v.Flags |= mm.VMUffdWP
				})
			}
			if tc.entry == 1 {
				f.populate(low, 1)
				f.setPTE(low, (f.pte(low)|pgtable.UffdWP)&^pgtable.Write)
			} else {
				f.setPTE(low, tc.entry)
			}
			wantErrno(t, "Madvise", f.m.Madvise(ns, low, pg, mm.AdviceDontneed), 0)
			if p := f.pte(low); p != tc.want {
				t.Errorf("entry after MADV_DONTNEED = %v, want %v", p, tc.want)
			}
			if tc.entry == 1 && !tc.shared && f.inUse() != 0 {
				t.Errorf("%d pages in use after MADV_DONTNEED", f.inUse())
			}
		})
	}
}
