package pgtable_test

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
)

const (
	pte4K = 1 << 12
	pmd2M = 1 << 21
	pud1G = 1 << 30
)

func TestMkPTERoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pfn  phys.PFN
		prot pgtable.PTE
	}{
		{"read only", 1, pgtable.Read | pgtable.User},
		{"read write exec", 0x12345, pgtable.Read | pgtable.Write | pgtable.Exec | pgtable.User},
		{"kernel only", 7, pgtable.Read},
		{"accessed dirty special", 2, pgtable.Read | pgtable.Accessed | pgtable.Dirty | pgtable.Special},
		{"largest pfn", 1<<40 - 1, pgtable.Read | pgtable.Write},
		{"with a key", 99, pgtable.Read | pgtable.User | pgtable.PKeyBits(13)},
		{"no permissions", 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pgtable.MkPTE(tc.pfn, tc.prot)
			if !p.Present() || !p.Mapped() || p.None() {
				t.Fatalf("%#x: Present, Mapped, None = %v, %v, %v, want true, true, false", uint64(p), p.Present(), p.Mapped(), p.None())
			}
			if p.IsMarker() || p.IsSwap() {
				t.Fatalf("%#x: a present entry reads as a marker or swap entry", uint64(p))
			}
			if p.PFN() != tc.pfn {
				t.Errorf("PFN() = %#x, want %#x", p.PFN(), tc.pfn)
			}
			if !p.Has(tc.prot) {
				t.Errorf("Has(%#x) = false for %#x", uint64(tc.prot), uint64(p))
			}
			wantPerm := tc.prot & (pgtable.Read | pgtable.Write | pgtable.Exec | pgtable.User | pgtable.PKeyMask)
			if p.Perm() != wantPerm {
				t.Errorf("Perm() = %#x, want %#x", uint64(p.Perm()), uint64(wantPerm))
			}
			// WithPerm replaces the permissions and nothing else.
			q := p.WithPerm(pgtable.Exec | pgtable.PKeyBits(2))
			if q.PFN() != tc.pfn || !q.Present() || q.Perm() != pgtable.Exec|pgtable.PKeyBits(2) {
				t.Errorf("WithPerm: %v (perm %#x), want pfn %#x, present, exec with key 2", q, uint64(q.Perm()), tc.pfn)
			}
			if q&(pgtable.Accessed|pgtable.Dirty|pgtable.Special) != tc.prot&(pgtable.Accessed|pgtable.Dirty|pgtable.Special) {
				t.Errorf("WithPerm changed the accessed/dirty/special bits: %#x -> %#x", uint64(p), uint64(q))
			}
		})
	}
}

// TestProtNoneEntry: a PROT_NONE entry keeps its frame but is not present.
func TestProtNoneEntry(t *testing.T) {
	p := pgtable.MkPTE(42, pgtable.Read|pgtable.User)&^pgtable.Present | pgtable.ProtNone
	if p.Present() || !p.Mapped() || p.IsMarker() || p.IsSwap() || p.PFN() != 42 {
		t.Errorf("ProtNone entry %v: Present %v Mapped %v marker %v swap %v pfn %d", p, p.Present(), p.Mapped(), p.IsMarker(), p.IsSwap(), p.PFN())
	}
	if p.Marker() != 0 {
		t.Errorf("Marker() of a mapped entry = %d, want 0", p.Marker())
	}
}

func TestMarkers(t *testing.T) {
	tests := []struct {
		name   string
		m      pgtable.Marker
		str    string
		guard  bool
		poison bool
	}{
		{"guard", pgtable.MarkerGuard, "marker(guard)", true, false},
		{"poison", pgtable.MarkerPoisoned, "marker(poison)", false, true},
		{"uffd-wp", pgtable.MarkerUffdWP, "marker(uffd-wp)", false, false},
		{"all three", pgtable.MarkerGuard | pgtable.MarkerPoisoned | pgtable.MarkerUffdWP, "marker(guard,poison,uffd-wp)", true, true},
		{"guard and uffd-wp", pgtable.MarkerGuard | pgtable.MarkerUffdWP, "marker(guard,uffd-wp)", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pgtable.MkMarker(tc.m)
			if p.None() || p.Present() || p.Mapped() || p.IsSwap() || !p.IsMarker() {
				t.Fatalf("%#x: None %v Present %v Mapped %v Swap %v Marker %v, want only a marker", uint64(p), p.None(), p.Present(), p.Mapped(), p.IsSwap(), p.IsMarker())
			}
			if p.Marker() != tc.m {
				t.Errorf("Marker() = %#x, want %#x", p.Marker(), tc.m)
			}
			if got := p.Marker()&pgtable.MarkerGuard != 0; got != tc.guard {
				t.Errorf("guard bit = %v, want %v", got, tc.guard)
			}
			if got := p.Marker()&pgtable.MarkerPoisoned != 0; got != tc.poison {
				t.Errorf("poison bit = %v, want %v", got, tc.poison)
			}
			if p.String() != tc.str {
				t.Errorf("String() = %q, want %q", p.String(), tc.str)
			}
		})
	}
}

func TestSwapEntries(t *testing.T) {
	tests := []struct {
		name     string
		typ      uint8
		off      uint64
		wantType uint8
		str      string
	}{
		{"type 0 offset 0", 0, 0, 0, "swap(0,0)"},
		{"small", 3, 1234, 3, "swap(3,1234)"},
		{"largest type", 31, 1, 31, "swap(31,1)"},
		{"type is five bits", 0x3f, 9, 0x1f, "swap(31,9)"},
		{"largest offset", 1, 1<<40 - 1, 1, "swap(1,1099511627775)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pgtable.MkSwap(tc.typ, tc.off)
			if p.None() || p.Present() || p.Mapped() || p.IsMarker() || !p.IsSwap() {
				t.Fatalf("%#x: None %v Present %v Mapped %v Marker %v Swap %v, want only a swap entry", uint64(p), p.None(), p.Present(), p.Mapped(), p.IsMarker(), p.IsSwap())
			}
			if p.SwapType() != tc.wantType || p.SwapOffset() != tc.off {
				t.Errorf("SwapType, SwapOffset = %d, %d, want %d, %d", p.SwapType(), p.SwapOffset(), tc.wantType, tc.off)
			}
			if p.Marker() != 0 {
				t.Errorf("Marker() of a swap entry = %d, want 0", p.Marker())
			}
			if p.String() != tc.str {
				t.Errorf("String() = %q, want %q", p.String(), tc.str)
			}
		})
	}
}

func TestPKey(t *testing.T) {
	for k := 0; k < 16; k++ {
		if got := pgtable.PKeyBits(k).PKey(); got != k {
			t.Errorf("PKeyBits(%d).PKey() = %d", k, got)
		}
		p := pgtable.MkPTE(0xabcde, pgtable.Read|pgtable.User|pgtable.PKeyBits(k))
		if p.PKey() != k || p.PFN() != 0xabcde || !p.Has(pgtable.Read|pgtable.User) {
			t.Errorf("key %d: entry %#x has key %d pfn %#x", k, uint64(p), p.PKey(), p.PFN())
		}
	}
	tests := []struct {
		name string
		in   int
		want int
	}{
		{"key 16 wraps to 0", 16, 0},
		{"key 17 wraps to 1", 17, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pgtable.PKeyBits(tc.in).PKey(); got != tc.want {
				t.Errorf("PKeyBits(%d).PKey() = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
	if pgtable.MkPTE(1, pgtable.Read).PKey() != 0 {
		t.Error("an entry without key bits has a key")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		p    pgtable.PTE
		want string
	}{
		{"none", 0, "none"},
		{"read user", pgtable.MkPTE(5, pgtable.Read|pgtable.User), "present(pfn=5,r--u----)"},
		{"all bits", pgtable.MkPTE(6, pgtable.Read|pgtable.Write|pgtable.Exec|pgtable.User|pgtable.Accessed|pgtable.Dirty|pgtable.Special|pgtable.UffdWP), "present(pfn=6,rwxuadsW)"},
		{"no permission", pgtable.MkPTE(7, 0), "present(pfn=7,--------)"},
		{"prot none", pgtable.MkPTE(8, pgtable.Read|pgtable.Write)&^pgtable.Present | pgtable.ProtNone, "protnone(pfn=8,rw------)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGeometry(t *testing.T) {
	tests := []struct {
		name   string
		levels int
		vabits uint
	}{
		{"4 levels", 4, 48},
		{"5 levels", 5, 57},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt := pgtable.New(tc.levels)
			if pt.Levels() != tc.levels || pt.VABits() != tc.vabits || pt.Tables() != 1 {
				t.Errorf("Levels, VABits, Tables = %d, %d, %d, want %d, %d, 1", pt.Levels(), pt.VABits(), pt.Tables(), tc.levels, tc.vabits)
			}
		})
	}
	for _, lv := range []struct {
		level int
		size  uint64
	}{{1, pte4K}, {2, pmd2M}, {3, pud1G}, {4, 1 << 39}, {5, 1 << 48}} {
		if got := pgtable.Std(4).LevelSize(lv.level); got != lv.size {
			t.Errorf("LevelSize(%d) = %#x, want %#x", lv.level, got, lv.size)
		}
	}
	addr := uint64(3)<<48 | uint64(5)<<39 | uint64(7)<<30 | uint64(11)<<21 | uint64(13)<<12 | 0xabc
	for level, want := range map[int]int{1: 13, 2: 11, 3: 7, 4: 5, 5: 3} {
		if got := pgtable.Std(4).Index(addr, level); got != want {
			t.Errorf("Index(%#x, %d) = %d, want %d", addr, level, got, want)
		}
	}
	for _, bad := range []int{0, 1, 6, 7} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", bad)
				}
			}()
			pgtable.New(bad)
		}()
	}
}

func TestLookupAndAlloc(t *testing.T) {
	tests := []struct {
		name   string
		levels int
		addr   uint64
		// alias is an address in the same PTE table and slot as addr once
		// the bits above VABits are ignored.
		alias uint64
	}{
		{"4 levels low", 4, 0x400000, 0x400000 | 1<<48},
		{"4 levels top of user space", 4, 1<<47 - pte4K, 1<<47 - pte4K | 0xffff<<48},
		{"5 levels 50-bit address", 5, 1<<50 + 3*pte4K, 1<<50 + 3*pte4K | 1<<57},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt := pgtable.New(tc.levels)
			if tab, _ := pt.Lookup(tc.addr); tab != nil {
				t.Fatal("Lookup found a table before Alloc")
			}
			if pt.Tables() != 1 {
				t.Fatalf("Lookup allocated: Tables() = %d", pt.Tables())
			}
			tab, i := pt.Alloc(tc.addr)
			if tab == nil || tab.Level() != 1 || i != pgtable.Std(4).Index(tc.addr, 1) {
				t.Fatalf("Alloc = %v, %d, want a level-1 table and index %d", tab, i, pgtable.Std(4).Index(tc.addr, 1))
			}
			if got := pt.Tables(); got != int64(tc.levels) {
				t.Errorf("Tables() after the first Alloc = %d, want %d (one per level)", got, tc.levels)
			}
			if lt, li := pt.Lookup(tc.addr); lt != tab || li != i {
				t.Errorf("Lookup after Alloc = %p, %d, want %p, %d", lt, li, tab, i)
			}
			if at, ai := pt.Alloc(tc.addr + pte4K - 1); at != tab || ai != i {
				t.Errorf("Alloc of the same page again = %p, %d, want %p, %d", at, ai, tab, i)
			}
			if lt, li := pt.Lookup(tc.alias); lt != tab || li != i {
				t.Errorf("Lookup(%#x) = %p, %d: bits above VABits must be ignored", tc.alias, lt, li)
			}
			if pt.Tables() != int64(tc.levels) {
				t.Errorf("a second walk allocated: Tables() = %d", pt.Tables())
			}
			// A neighbouring 2 MiB region needs one more PTE table only.
			other := tc.addr ^ pmd2M
			if lt, _ := pt.Lookup(other); lt != nil {
				t.Fatal("Lookup found a table for another 2 MiB region")
			}
			ot, _ := pt.Alloc(other)
			if ot == tab {
				t.Error("two 2 MiB regions share a PTE table")
			}
			if got := pt.Tables(); got != int64(tc.levels)+1 {
				t.Errorf("Tables() = %d, want %d", got, tc.levels+1)
			}
		})
	}
}

// visit collects the slot addresses Range reports.
func visit(pt *pgtable.PageTable, start, end uint64, limit int) []uint64 {
	var got []uint64
	pt.Range(start, end, func(addr uint64, tab *pgtable.Table, i int) bool {
		if tab.Level() != 1 || i != pgtable.Std(4).Index(addr, 1) {
			got = append(got, ^uint64(0)) // poison: wrong table or index
		}
		got = append(got, addr)
		return limit == 0 || len(got) < limit
	})
	return got
}

func pages(from uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = from + uint64(i)*pte4K
	}
	return out
}

func TestRange(t *testing.T) {
	const a = 0x7f0000000000 // 2 MiB aligned
	const b = 0x200000000    // lower, in another top-level entry
	tests := []struct {
		name       string
		levels     int
		alloc      []uint64
		start, end uint64
		want       []uint64
		limit      int // stop after this many slots; 0: never
	}{
		{"no tables", 4, nil, 0, 1 << 47, nil, 0},
		{"whole table", 4, []uint64{a + 5*pte4K}, 0, 1 << 47, pages(a, 512), 0},
		{"sub-range", 4, []uint64{a}, a + 5*pte4K, a + 10*pte4K, pages(a+5*pte4K, 5), 0},
		{"end is exclusive at a page boundary", 4, []uint64{a}, a, a + 3*pte4K, pages(a, 3), 0},
		{"start inside a page covers that page", 4, []uint64{a}, a + 5*pte4K + 1, a + 7*pte4K, pages(a+5*pte4K, 2), 0},
		{"empty range", 4, []uint64{a}, a + pte4K, a + pte4K, nil, 0},
		{"range misses the table", 4, []uint64{a}, a + pmd2M, a + 2*pmd2M, nil, 0},
		{"address order across tables", 4, []uint64{a, b}, 0, 1 << 47, append(pages(b, 512), pages(a, 512)...), 0},
		{"straddles two adjacent tables", 4, []uint64{a, a + pmd2M}, a + pmd2M - 2*pte4K, a + pmd2M + 2*pte4K, pages(a+pmd2M-2*pte4K, 4), 0},
		{"straddles a table and a hole", 4, []uint64{a + pmd2M}, a + pmd2M - 2*pte4K, a + pmd2M + 2*pte4K, pages(a+pmd2M, 2), 0},
		{"stop after three", 4, []uint64{a, b}, 0, 1 << 47, pages(b, 3), 3},
		{"5 levels", 5, []uint64{1 << 50}, 1 << 50, 1<<50 + 4*pte4K, pages(1<<50, 4), 0},
		{"5 levels whole space", 5, []uint64{1 << 50}, 0, 1 << 56, pages(1<<50, 512), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt := pgtable.New(tc.levels)
			for _, addr := range tc.alloc {
				pt.Alloc(addr)
			}
			got := visit(pt, tc.start, tc.end, tc.limit)
			if len(got) != len(tc.want) {
				t.Fatalf("Range visited %d slots, want %d (first %v)", len(got), len(tc.want), first(got))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("slot %d: visited %#x, want %#x", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func first(s []uint64) []uint64 {
	if len(s) > 4 {
		return s[:4]
	}
	return s
}

func TestSetBits(t *testing.T) {
	present := pgtable.MkPTE(9, pgtable.Read|pgtable.User)
	tests := []struct {
		name  string
		entry pgtable.PTE
		bits  pgtable.PTE
		want  pgtable.PTE // the entry afterwards
	}{
		{"present gets accessed", present, pgtable.Accessed, present | pgtable.Accessed},
		{"present gets accessed and dirty", present, pgtable.Accessed | pgtable.Dirty, present | pgtable.Accessed | pgtable.Dirty},
		{"already set", present | pgtable.Accessed, pgtable.Accessed, present | pgtable.Accessed},
		{"none stays none", 0, pgtable.Accessed, 0},
		{"guard marker untouched", pgtable.MkMarker(pgtable.MarkerGuard), pgtable.Accessed | pgtable.Dirty, pgtable.MkMarker(pgtable.MarkerGuard)},
		{"swap entry untouched", pgtable.MkSwap(1, 2), pgtable.Dirty, pgtable.MkSwap(1, 2)},
		{"prot none untouched", present&^pgtable.Present | pgtable.ProtNone, pgtable.Accessed, present&^pgtable.Present | pgtable.ProtNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt := pgtable.New(4)
			tab, i := pt.Alloc(0x1000)
			tab.Lock()
			tab.Store(i, tc.entry)
			tab.Unlock()
			if old := tab.SetBits(i, tc.bits); old != tc.entry {
				t.Errorf("SetBits returned %v, want the old entry %v", old, tc.entry)
			}
			if got := tab.Load(i); got != tc.want {
				t.Errorf("entry = %v (%#x), want %v (%#x)", got, uint64(got), tc.want, uint64(tc.want))
			}
			if n := tab.Load(i + 1); n != 0 {
				t.Errorf("the next entry changed to %v", n)
			}
		})
	}
}

func TestCompareAndSwap(t *testing.T) {
	pt := pgtable.New(4)
	tab, i := pt.Alloc(0x5000)
	a, b := pgtable.MkPTE(1, pgtable.Read), pgtable.MkPTE(2, pgtable.Read)
	if tab.CompareAndSwap(i, a, b) {
		t.Fatal("CompareAndSwap succeeded on a stale old value")
	}
	if !tab.CompareAndSwap(i, 0, a) || tab.Load(i) != a {
		t.Fatal("CompareAndSwap(0 -> a) failed")
	}
	if !tab.CompareAndSwap(i, a, b) || tab.Load(i) != b {
		t.Fatal("CompareAndSwap(a -> b) failed")
	}
	if !strings.HasPrefix(tab.Load(i).String(), "present(pfn=2,") {
		t.Errorf("entry = %v", tab.Load(i))
	}
}

// TestWalk checks that a walk without a leaf table stops at the deepest
// table that exists, at the entry for the address, and that a leaf is what
// Lookup finds.
func TestWalk(t *testing.T) {
	const addr uint64 = 0x7f0000400000 + 5*pte4K
	pt := pgtable.New(4)
	if tab, i, leaf := pt.Walk(addr); leaf || tab.Level() != 4 || i != pgtable.Std(4).Index(addr, 4) {
		t.Fatalf("empty tables: Walk = level %d, %d, %v; want level 4, %d, false", tab.Level(), i, leaf, pgtable.Std(4).Index(addr, 4))
	}
	pt.Alloc(addr)
	other := addr ^ pmd2M // same level-2 table, no PTE table
	if tab, i, leaf := pt.Walk(other); leaf || tab.Level() != 2 || i != pgtable.Std(4).Index(other, 2) {
		t.Errorf("Walk(%#x) = level %d, %d, %v; want level 2, %d, false", other, tab.Level(), i, leaf, pgtable.Std(4).Index(other, 2))
	}
	lt, li := pt.Lookup(addr)
	if tab, i, leaf := pt.Walk(addr); !leaf || tab != lt || i != li {
		t.Errorf("Walk(%#x) = %p, %d, %v; want Lookup's %p, %d, true", addr, tab, i, leaf, lt, li)
	}
	huge, hi := pt.AllocHuge(addr + 1<<30)
	huge.Store(hi, pgtable.MkPTE(512, pgtable.Present|pgtable.Huge|pgtable.Read|pgtable.User))
	if tab, i, leaf := pt.Walk(addr + 1<<30); !leaf || tab != huge || i != hi {
		t.Errorf("Walk of a huge leaf = level %d, %d, %v; want level 2, %d, true", tab.Level(), i, leaf, hi)
	}
}

// TestAccess: the end of a hardware walk sets the accessed bit (and the
// dirty bit for a write) and translates to the frame, within a 2 MiB leaf
// the frame the address falls on.
func TestAccess(t *testing.T) {
	const addr = 0x40000000 + 5*pte4K + 0x123
	for _, tc := range []struct {
		name  string
		huge  bool
		write bool
		pfn   phys.PFN // for a leaf of frame 0x200
		bits  pgtable.PTE
	}{
		{"4 KiB read", false, false, 0x200, pgtable.Accessed},
		{"4 KiB write", false, true, 0x200, pgtable.Accessed | pgtable.Dirty},
		{"2 MiB read", true, false, 0x205, pgtable.Accessed},
		{"2 MiB write", true, true, 0x205, pgtable.Accessed | pgtable.Dirty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt := pgtable.New(4)
			tab, i := pt.Alloc(addr)
			pte := pgtable.MkPTE(0x200, pgtable.User|pgtable.Read|pgtable.Write)
			if tc.huge {
				tab, i = pt.AllocHuge(addr)
				pte |= pgtable.Huge
			}
			tab.Lock()
			tab.Store(i, pte)
			tab.Unlock()
			if got := tab.Access(i, pte, addr, tc.write); got != tc.pfn {
				t.Errorf("frame %#x, want %#x", got, tc.pfn)
			}
			if got := tab.Load(i) & (pgtable.Accessed | pgtable.Dirty); got != tc.bits {
				t.Errorf("bits %v, want %v", got, tc.bits)
			}
		})
	}
}

// TestGeometries: arm64's 48-bit VA over each base page (pgtable-hwdef.h:
// ARM64_HW_PGTABLE_LEVELS(48) is 4, 4 and 3; PTRS_PER_PGD 512, 2 and 64)
// gives tables of that many entries, PMDs of PAGE_SIZE times a table's
// entries, and walks that index and translate by those bits.
func TestGeometries(t *testing.T) {
	tests := []struct {
		name             string
		g                pgtable.Geometry
		vabits           uint
		top, entries     int
		pmd              uint64
		wantIdx1, wantI2 int
	}{
		{"4k", pgtable.ForVA(12, 48, 4), 48, 512, 512, 2 << 20, 0x123, 0x1a},
		{"16k", pgtable.ForVA(14, 48, 4), 48, 2, 2048, 32 << 20, 0x48d, 0x1},
		{"64k", pgtable.ForVA(16, 48, 3), 48, 64, 8192, 512 << 20, 0x123, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			if !g.Valid() || g.VABits() != tc.vabits || g.Entries(g.Levels) != tc.top || g.Entries(1) != tc.entries || g.LevelSize(2) != tc.pmd {
				t.Fatalf("geometry %+v: valid %v, VABits %d, top %d, entries %d, PMD %#x", g, g.Valid(), g.VABits(), g.Entries(g.Levels), g.Entries(1), g.LevelSize(2))
			}
			addr := uint64(0x3412_3456_8000) &^ (1<<g.PageShift - 1)
			pt := pgtable.NewGeometry(g)
			if root, _, _ := pt.Walk(addr); root.Len() != tc.top || root.Level() != g.Levels {
				t.Fatalf("root is level %d with %d entries, want %d, %d", root.Level(), root.Len(), g.Levels, tc.top)
			}
			tab, i := pt.Alloc(addr)
			if tab.Level() != 1 || tab.Len() != tc.entries || i != g.Index(addr, 1) || pt.Tables() != int64(g.Levels) {
				t.Fatalf("Alloc(%#x) = level %d (%d entries), %d; tables %d", addr, tab.Level(), tab.Len(), i, pt.Tables())
			}
			if i != int(addr>>g.PageShift)%tc.entries {
				t.Fatalf("index %d is not the page number modulo %d", i, tc.entries)
			}
			tab.Slot(i).Store(pgtable.MkPTE(7, pgtable.Read))
			if got, gi := pt.Lookup(addr); got != tab || gi != i || got.Load(gi).PFN() != 7 || got.Slot(gi+tc.entries).Load().PFN() != 7 {
				t.Fatalf("Lookup(%#x) = %v, %d", addr, got, gi)
			}
			if got, _ := pt.Lookup(addr + 1<<g.PageShift*uint64(tc.entries)); got != nil {
				t.Fatalf("Lookup one PTE table further found a table")
			}
			// A huge leaf at level 2 translates the page number within it.
			hbase := (addr + 4*tc.pmd) &^ (tc.pmd - 1)
			h, hi := pt.AllocHuge(hbase)
			h.Store(hi, pgtable.MkPTE(1<<20, pgtable.Read|pgtable.Huge))
			in := hbase + 5<<g.PageShift + 3
			if got := h.Access(hi, h.Load(hi), in, false); h.Level() != 2 || got != 1<<20+5 {
				t.Fatalf("Access in a level-%d huge leaf = pfn %d, want %d", h.Level(), got, 1<<20+5)
			}
		})
	}
}
