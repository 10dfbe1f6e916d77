package phys_test

import (
	"testing"

	"github.com/faultline/faultline/phys"
)

// TestReleaseGivesFreshAllocators ends allocators in various states and
// checks that Release refuses while a frame is in use, and that the
// allocators made after it (which reuse its memory) start as new ones
// do: no frame but the zero page, counters at zero, frames zeroed and
// unshared, whatever the released one's frames held.
func TestReleaseGivesFreshAllocators(t *testing.T) {
	tests := []struct {
		name   string
		frames int  // order-0 frames allocated (more than a chunk holds: two chunks)
		huge   int  // order of a compound page allocated too, 0 for none
		cache  bool // allocate through a task's cache
		keep   bool // leave one frame in use
		want   bool // Release's answer
	}{
		{"empty", 0, 0, false, false, true},
		{"a few frames", 5, 0, false, false, true},
		{"two chunks", 5000, 0, false, false, true},
		{"through a cache", 300, 0, true, false, true},
		{"a compound page", 3, 9, false, false, true},
		{"a frame in use", 5, 0, false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 3 {
				a := phys.NewAllocator()
				if got := a.Stats(); got != (phys.Stats{}) {
					t.Fatalf("round %d: a new allocator's Stats() = %+v, want zero", round, got)
				}
				if p := a.Lookup(2); p != nil {
					t.Fatalf("round %d: a new allocator has frame 2 (%p)", round, p)
				}
				c := a.NewCache()
				var pages []*phys.Page
				for i := range tc.frames {
					var p *phys.Page
					var err error
					if tc.cache {
						p, err = c.Alloc(phys.FlagAnon)
					} else {
						p, err = a.Alloc(phys.FlagAnon)
					}
					if err != nil {
						t.Fatal(err)
					}
					if v, ok := p.Uniform(); !ok || v != 0 {
						t.Fatalf("round %d: frame %d (pfn %d) is not zero and unshared: Uniform() = %#x, %v", round, i, p.PFN(), v, ok)
					}
					if p.Refs() != 1 || p.MapCount() != 0 || p.Flags() != phys.FlagAnon || p.MemCG() != nil {
						t.Fatalf("round %d: frame %d: refs %d, map count %d, flags %v, memcg %p", round, i, p.Refs(), p.MapCount(), p.Flags(), p.MemCG())
					}
					p.Store(uint64(i)%phys.PageSize, 0x5a) // contents of its own
					p.SetFlags(phys.FlagDirty)
					pages = append(pages, p)
				}
				if tc.huge > 0 {
					h, err := a.AllocCompound(tc.huge, phys.FlagAnon)
					if err != nil {
						t.Fatal(err)
					}
					h.Sub(1).Fill(7)
					h.Put()
				}
				for i, p := range pages {
					if !tc.keep || i > 0 {
						p.Put()
					}
				}
				c.Close()
				if got := a.Release(); got != tc.want {
					t.Fatalf("round %d: Release() = %v, want %v", round, got, tc.want)
				}
				if !tc.want {
					pages[0].Put()
					if !a.Release() {
						t.Fatalf("round %d: Release() = false once every frame was freed", round)
					}
				}
			}
		})
	}
}
