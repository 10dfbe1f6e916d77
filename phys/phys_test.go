package phys_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/phys"
)

// TestAllocatorAccounting runs sequences of allocations ('a') and frees
// ('f', of the most recently allocated live frame) and checks the
// allocator's counters afterwards. The zero page is never counted.
func TestAllocatorAccounting(t *testing.T) {
	tests := []struct {
		name string
		ops  string
		want phys.Stats
	}{
		{"fresh allocator", "", phys.Stats{}},
		{"one alloc", "a", phys.Stats{InUse: 1, Peak: 1, Allocs: 1}},
		{"alloc then free", "af", phys.Stats{InUse: 0, Peak: 1, Allocs: 1, Frees: 1}},
		{"peak survives frees", "aaaff", phys.Stats{InUse: 1, Peak: 3, Allocs: 3, Frees: 2}},
		{"reuse keeps peak at one", "afafaf", phys.Stats{InUse: 0, Peak: 1, Allocs: 3, Frees: 3}},
		{"peak rises again", "aafaaa", phys.Stats{InUse: 4, Peak: 4, Allocs: 5, Frees: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := phys.NewAllocator()
			var live []*phys.Page
			for _, op := range tc.ops {
				switch op {
				case 'a':
					p, err := a.Alloc(phys.FlagAnon)
					if err != nil {
						t.Fatalf("Alloc: %v", err)
					}
					live = append(live, p)
				case 'f':
					live[len(live)-1].Put()
					live = live[:len(live)-1]
				}
			}
			if got := a.Stats(); got != tc.want {
				t.Errorf("Stats() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAllocGivesFreshFrame checks the state of every frame Alloc returns,
// including one recycled from the free list after it was dirtied.
func TestAllocGivesFreshFrame(t *testing.T) {
	tests := []struct {
		name  string
		flags phys.PageFlags
	}{
		{"anon", phys.FlagAnon},
		{"shmem", phys.FlagShmem},
		{"no flags", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := phys.NewAllocator()
			old, err := a.Alloc(phys.FlagAnon | phys.FlagDirty)
			if err != nil {
				t.Fatal(err)
			}
			for i := range old.Data() {
				old.Data()[i] = byte(i) | 1
			}
			old.Get()
			old.AddMap()
			old.RemoveMap()
			old.Put()
			old.Put() // the last reference: back to the free list
			pfn := old.PFN()

			p, err := a.Alloc(tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if p.PFN() != pfn {
				t.Fatalf("Alloc returned PFN %d, want the freed frame %d back", p.PFN(), pfn)
			}
			for i, b := range p.Data() {
				if b != 0 {
					t.Fatalf("reused frame byte %d = %#x, want 0", i, b)
				}
			}
			if p.Flags() != tc.flags {
				t.Errorf("Flags() = %#x, want %#x", p.Flags(), tc.flags)
			}
			if p.Refs() != 1 || p.MapCount() != 0 {
				t.Errorf("Refs, MapCount = %d, %d, want 1, 0", p.Refs(), p.MapCount())
			}
			if p.IsZero() {
				t.Error("a fresh frame claims to be the zero page")
			}
		})
	}
}

// TestPFNsAreDistinct checks that live frames have distinct PFNs that are
// neither 0 nor the zero page's.
func TestPFNsAreDistinct(t *testing.T) {
	a := phys.NewAllocator()
	seen := map[phys.PFN]bool{0: true, a.ZeroPage().PFN(): true}
	for i := 0; i < 100; i++ {
		p, err := a.Alloc(phys.FlagAnon)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p.PFN()] {
			t.Fatalf("PFN %d handed out twice (or is reserved)", p.PFN())
		}
		seen[p.PFN()] = true
	}
}

func TestLookup(t *testing.T) {
	a := phys.NewAllocator()
	p1, _ := a.Alloc(phys.FlagAnon)
	p2, _ := a.Alloc(phys.FlagAnon)
	freed, _ := a.Alloc(phys.FlagAnon)
	freed.Put()
	tests := []struct {
		name string
		pfn  phys.PFN
		want *phys.Page
	}{
		{"pfn 0 is never used", 0, nil},
		{"zero page", a.ZeroPage().PFN(), a.ZeroPage()},
		{"first frame", p1.PFN(), p1},
		{"second frame", p2.PFN(), p2},
		{"freed frame stays in the directory", freed.PFN(), freed},
		{"next pfn not handed out", freed.PFN() + 1, nil},
		{"far pfn in a missing chunk", 1 << 20, nil},
		{"pfn beyond the directory", 1 << 40, nil},
		{"largest pfn", ^phys.PFN(0), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Lookup(tc.pfn); got != tc.want {
				t.Errorf("Lookup(%d) = %p, want %p", tc.pfn, got, tc.want)
			}
		})
	}
}

// TestPinnedPages checks that the zero page and reserved frames ignore
// reference and map counting: they are never freed, whatever is done.
func TestPinnedPages(t *testing.T) {
	a := phys.NewAllocator()
	tests := []struct {
		name  string
		page  *phys.Page
		flags phys.PageFlags
		zero  bool
	}{
		{"zero page", a.ZeroPage(), phys.FlagZero, true},
		{"reserved frame", phys.NewReserved(), phys.FlagReserved, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.page
			before := a.Stats()
			if p.Flags() != tc.flags || p.IsZero() != tc.zero {
				t.Fatalf("Flags, IsZero = %#x, %v, want %#x, %v", p.Flags(), p.IsZero(), tc.flags, tc.zero)
			}
			for i, b := range p.Data() {
				if b != 0 {
					t.Fatalf("byte %d = %#x, want a zeroed frame", i, b)
				}
			}
			for i := 0; i < 5; i++ {
				p.Get()
				p.AddMap()
				p.AddMap()
			}
			if p.Refs() != 1 || p.MapCount() != 0 {
				t.Errorf("after Get/AddMap: Refs, MapCount = %d, %d, want 1, 0", p.Refs(), p.MapCount())
			}
			for i := 0; i < 10; i++ { // more than were ever taken: no underflow
				p.RemoveMap()
				p.Put()
			}
			if p.Refs() != 1 || p.MapCount() != 0 {
				t.Errorf("after Put/RemoveMap: Refs, MapCount = %d, %d, want 1, 0", p.Refs(), p.MapCount())
			}
			if got := a.Stats(); got != before {
				t.Errorf("Stats changed from %+v to %+v", before, got)
			}
			// A frame put "to zero" must not come back from Alloc.
			q, err := a.Alloc(phys.FlagAnon)
			if err != nil {
				t.Fatal(err)
			}
			if q == p {
				t.Fatal("Alloc handed out a pinned frame")
			}
			q.Put()
		})
	}
}

func TestSetLimit(t *testing.T) {
	tests := []struct {
		name    string
		limit   int64
		allocs  int
		wantErr int // index of the first Alloc that fails, or -1
	}{
		{"no limit", 0, 10, -1},
		{"limit 1", 1, 2, 1},
		{"limit 3", 3, 5, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := phys.NewAllocator()
			a.SetLimit(tc.limit)
			var live []*phys.Page
			for i := 0; i < tc.allocs; i++ {
				p, err := a.Alloc(phys.FlagAnon)
				failing := tc.wantErr >= 0 && i >= tc.wantErr
				if failing {
					if !errors.Is(err, phys.ErrNoMemory) || p != nil {
						t.Fatalf("Alloc #%d = %v, %v, want nil, ErrNoMemory", i, p, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Alloc #%d: %v", i, err)
				}
				live = append(live, p)
			}
			st := a.Stats()
			if st.InUse != int64(len(live)) || st.Allocs != int64(len(live)) {
				t.Errorf("Stats = %+v: failed allocations must not be counted (want %d in use)", st, len(live))
			}
			if tc.limit > 0 {
				// A free makes room for exactly one more.
				live[0].Put()
				p, err := a.Alloc(phys.FlagAnon)
				if err != nil {
					t.Fatalf("Alloc after a free: %v", err)
				}
				if _, err := a.Alloc(phys.FlagAnon); !errors.Is(err, phys.ErrNoMemory) {
					t.Fatalf("Alloc beyond the limit after a free: err = %v, want ErrNoMemory", err)
				}
				p.Put()
				// Lifting the limit lets allocation go on.
				a.SetLimit(0)
				for i := 0; i < 3; i++ {
					if _, err := a.Alloc(phys.FlagAnon); err != nil {
						t.Fatalf("Alloc after SetLimit(0): %v", err)
					}
				}
			}
		})
	}
}

// TestCountUnderflowPanics checks that a count going below zero, or a
// frame freed while still mapped, is caught.
func TestCountUnderflowPanics(t *testing.T) {
	tests := []struct {
		name string
		run  func(p *phys.Page)
		want string
	}{
		{"put after the last reference", func(p *phys.Page) { p.Put(); p.Put() }, "reference count underflow"},
		{"remove map of an unmapped page", func(p *phys.Page) { p.RemoveMap() }, "map count underflow"},
		{"free a mapped page", func(p *phys.Page) { p.AddMap(); p.Put() }, "freeing a mapped page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := phys.NewAllocator()
			p, err := a.Alloc(phys.FlagAnon)
			if err != nil {
				t.Fatal(err)
			}
			got := func() (msg string) {
				defer func() {
					if r := recover(); r != nil {
						msg, _ = r.(string)
						if msg == "" {
							msg = "non-string panic"
						}
					}
				}()
				tc.run(p)
				return ""
			}()
			if !strings.Contains(got, tc.want) {
				t.Errorf("panic = %q, want one containing %q", got, tc.want)
			}
		})
	}
}

// TestConcurrentAllocFree allocates and frees from several goroutines and
// checks that the books balance (run with -race).
func TestConcurrentAllocFree(t *testing.T) {
	const workers, rounds = 8, 200
	a := phys.NewAllocator()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				p, err := a.Alloc(phys.FlagAnon)
				if err != nil {
					t.Error(err)
					return
				}
				p.Data()[0] = byte(w)
				if a.Lookup(p.PFN()) != p {
					t.Error("Lookup of a live frame failed")
				}
				p.Put()
			}
		}(w)
	}
	wg.Wait()
	st := a.Stats()
	if st.InUse != 0 || st.Allocs != workers*rounds || st.Frees != workers*rounds || st.Peak < 1 || st.Peak > workers {
		t.Errorf("Stats = %+v, want 0 in use, %d allocs and frees, 1 <= peak <= %d", st, workers*rounds, workers)
	}
}

// TestPoisonedFrameRetired: a poisoned frame is never handed out again,
// and leaves the in-use count.
func TestPoisonedFrameRetired(t *testing.T) {
	a := phys.NewAllocator()
	p, err := a.Alloc(phys.FlagAnon)
	if err != nil {
		t.Fatal(err)
	}
	p.SetFlags(phys.FlagHWPoison)
	pfn := p.PFN()
	p.Put()
	if st := a.Stats(); st.InUse != 0 || st.Poisoned != 1 {
		t.Fatalf("stats %+v, want nothing in use and one frame poisoned", st)
	}
	for i := 0; i < 4; i++ {
		q, err := a.Alloc(0)
		if err != nil {
			t.Fatal(err)
		}
		if q.PFN() == pfn {
			t.Fatalf("the poisoned frame %d was handed out again", pfn)
		}
	}
}

// TestMemCGSetLimit: no limit until one is set; a limit of 0 is a limit;
// a limit below the usage is refused and the old one stays.
func TestMemCGSetLimit(t *testing.T) {
	cg := &phys.MemCG{}
	if !cg.TryCharge(100) {
		t.Fatal("a group with no limit refused a charge")
	}
	if cg.SetLimit(50) {
		t.Fatal("a limit below the usage was set")
	}
	if !cg.TryCharge(1) {
		t.Fatal("the refused limit took effect")
	}
	if !cg.SetLimit(101) {
		t.Fatal("a limit equal to the usage was refused")
	}
	if cg.TryCharge(1) {
		t.Fatal("a charge went over the limit")
	}
	empty := &phys.MemCG{}
	if !empty.SetLimit(0) || empty.TryCharge(1) {
		t.Fatal("a limit of 0 let a page be charged")
	}
}

// TestSharedContents: a filled frame reads as its fill and shares it
// until written; a write through Data makes it a copy of its own, which
// no other frame sees; a copy of a filled frame is filled too; a frame
// reallocated after a fill reads as zeros. At every base page size, whose
// frames have that many bytes, the last one filled too.
func TestSharedContents(t *testing.T) {
	for _, shift := range []uint{12, 14, 16} {
		t.Run(strconv.Itoa(1<<shift>>10)+"k", func(t *testing.T) { testSharedContents(t, shift) })
	}
}

func testSharedContents(t *testing.T, shift uint) {
	a := phys.NewAllocatorShift(shift)
	alloc := func() *phys.Page {
		p, err := a.Alloc(0)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	last := int(a.PageSize() - 1)
	p, q := alloc(), alloc()
	if v, ok := p.Uniform(); !ok || v != 0 || p.Contents()[100] != 0 {
		t.Fatalf("a fresh frame: Uniform() = %#x, %v; want 0, true", v, ok)
	}
	if n := len(p.Contents()); n != int(a.PageSize()) || p.PageSize() != a.PageSize() {
		t.Fatalf("a frame of a %d-byte allocator has %d bytes", a.PageSize(), n)
	}
	p.Fill(0x41)
	q.Fill(0x41)
	if v, ok := p.Uniform(); !ok || v != 0x41 || p.Contents()[last] != 0x41 {
		t.Fatalf("a filled frame: Uniform() = %#x, %v; want 0x41, true", v, ok)
	}
	p.Data()[7] = 1
	if _, ok := p.Uniform(); ok || len(p.Data()) != last+1 || p.Contents()[7] != 1 || p.Contents()[8] != 0x41 || p.Contents()[last] != 0x41 {
		t.Fatal("a written frame still shares its contents")
	}
	if q.Contents()[7] != 0x41 {
		t.Fatal("a write to one filled frame shows in another")
	}
	r := alloc()
	r.CopyFrom(q)
	if v, ok := r.Uniform(); !ok || v != 0x41 {
		t.Fatalf("a copy of a filled frame: Uniform() = %#x, %v; want 0x41, true", v, ok)
	}
	r.CopyFrom(p)
	if _, ok := r.Uniform(); ok || !bytes.Equal(r.Contents(), p.Contents()) {
		t.Fatal("a copy of a written frame differs from it")
	}
	p.Fill(0x42) // in place: p has contents of its own
	if v, ok := p.Uniform(); ok || p.Contents()[7] != 0x42 || p.Contents()[last] != 0x42 {
		t.Fatalf("refilling a written frame: Uniform() = %#x, %v, byte 7 %#x", v, ok, p.Contents()[7])
	}
	q.Put()
	if s := alloc(); s.Contents()[0] != 0 || s.Contents()[last] != 0 {
		t.Fatal("a frame reallocated after a fill does not read as zeros")
	}
}
