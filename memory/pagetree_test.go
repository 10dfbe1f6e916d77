package memory

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPageTreeMatchesMap: under random stores and deletes, at indexes
// small and huge, the tree holds what a map holds, walks it in index
// order from any start, and frees its nodes when emptied.
func TestPageTreeMatchesMap(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 11))
		var tr pageTree
		want := map[uint64]*cachePage{}
		index := func() uint64 {
			switch rng.IntN(4) {
			case 0:
				return rng.Uint64N(70)
			case 1:
				return rng.Uint64N(5000)
			case 2:
				return rng.Uint64N(1 << 40)
			}
			return 1<<52 - 1 - rng.Uint64N(100)
		}
		var keys []uint64
		for step := range 3000 {
			idx := index()
			if len(keys) > 0 && rng.IntN(2) == 0 {
				idx = keys[rng.IntN(len(keys))]
			}
			if _, ok := want[idx]; ok && rng.IntN(3) > 0 {
				tr.del(idx)
				delete(want, idx)
			} else if !ok {
				c := &cachePage{idx: idx}
				tr.set(idx, c)
				want[idx] = c
				keys = append(keys, idx)
			}
			if tr.get(idx) != want[idx] || tr.len() != len(want) {
				t.Fatalf("seed %d step %d: index %d: %p, want %p (%d pages, want %d)", seed, step, idx, tr.get(idx), want[idx], tr.len(), len(want))
			}
			if step%100 == 0 {
				sorted := slices.Sorted(maps.Keys(want))
				from := index()
				var got []uint64
				tr.each(from, func(i uint64, c *cachePage) bool {
					if c != want[i] {
						t.Fatalf("seed %d: each gave %d a wrong page", seed, i)
					}
					got = append(got, i)
					return true
				})
				var exp []uint64
				for _, k := range sorted {
					if k >= from {
						exp = append(exp, k)
					}
				}
				if !slices.Equal(got, exp) {
					t.Fatalf("seed %d step %d: each from %d = %v, want %v", seed, step, from, got, exp)
				}
			}
		}
		// Emptied while walked: every page deleted as it is given.
		tr.each(0, func(i uint64, _ *cachePage) bool {
			tr.del(i)
			delete(want, i)
			return true
		})
		if tr.len() != 0 || len(want) != 0 || tr.root != nil {
			t.Fatalf("seed %d: %d pages left (%d in the map), root %p", seed, tr.len(), len(want), tr.root)
		}
	}
}

// TestPageTreeReusesNodes: a tree emptied and filled again, as a cache
// read through a small memory limit is, makes no node the second time,
// at any height, and still holds what it was given.
func TestPageTreeReusesNodes(t *testing.T) {
	tests := []struct {
		name  string
		first uint64 // the indexes first, first+stride, ...
		n     int
		step  uint64
	}{
		{"one leaf", 0, 64, 1},
		{"two levels", 0, 3000, 1},
		{"sparse and tall", 1 << 30, 200, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr pageTree
			pages := make([]cachePage, tc.n)
			cycle := func() {
				for i := range pages {
					tr.set(tc.first+uint64(i)*tc.step, &pages[i])
				}
				for i := range pages {
					if idx := tc.first + uint64(i)*tc.step; tr.get(idx) != &pages[i] {
						t.Fatalf("index %d: %p, want %p", idx, tr.get(idx), &pages[i])
					}
				}
				for i := range pages {
					tr.del(tc.first + uint64(i)*tc.step)
				}
				if tr.len() != 0 || tr.root != nil {
					t.Fatalf("%d pages left, root %p", tr.len(), tr.root)
				}
			}
			cycle()
			if allocs := testing.AllocsPerRun(5, cycle); allocs != 0 {
				t.Errorf("a refill allocates %v times, want 0", allocs)
			}
		})
	}
}
