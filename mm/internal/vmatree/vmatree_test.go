package vmatree

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// model is the obvious index: a sorted slice of keys with their values.
type model struct {
	keys []uint64
	vals map[uint64]int
}

func newModel() *model { return &model{vals: map[uint64]int{}} }

func (m *model) insert(k uint64, v int) bool {
	_, had := m.vals[k]
	if !had {
		i := sort.Search(len(m.keys), func(i int) bool { return m.keys[i] >= k })
		m.keys = slices.Insert(m.keys, i, k)
	}
	m.vals[k] = v
	return had
}

func (m *model) delete(k uint64) bool {
	if _, had := m.vals[k]; !had {
		return false
	}
	delete(m.vals, k)
	i := sort.Search(len(m.keys), func(i int) bool { return m.keys[i] >= k })
	m.keys = slices.Delete(m.keys, i, i+1)
	return true
}

// find is find_vma: the first key above addr.
func (m *model) find(addr uint64) (uint64, int, bool) {
	i := sort.Search(len(m.keys), func(i int) bool { return m.keys[i] > addr })
	if i == len(m.keys) {
		return 0, 0, false
	}
	return m.keys[i], m.vals[m.keys[i]], true
}

// floor is the last key at or below key.
func (m *model) floor(key uint64) (uint64, int, bool) {
	i := sort.Search(len(m.keys), func(i int) bool { return m.keys[i] > key })
	if i == 0 {
		return 0, 0, false
	}
	return m.keys[i-1], m.vals[m.keys[i-1]], true
}

// frozen is what a snapshot answered when it was taken.
type frozen struct {
	s    *Snapshot[int]
	keys []uint64
	vals []int
}

// check verifies the tree's shape: keys in order, no node empty or over
// full, each inner key the largest key of its subtree, all
// leaves at one depth, and the count right.
func check[V any](tb testing.TB, s *Snapshot[V]) {
	tb.Helper()
	if s.root == nil {
		if s.n != 0 || s.height != 0 {
			tb.Fatalf("empty root with n=%d height=%d", s.n, s.height)
		}
		return
	}
	count := 0
	var last uint64
	first := true
	var walk func(nd *header, h int, isRoot bool) uint64
	walk = func(nd *header, h int, isRoot bool) uint64 {
		if nd.n > order || nd.n == 0 {
			tb.Fatalf("node at height %d holds %d entries", h, nd.n)
		}
		if isRoot && h > 0 && nd.n < 2 {
			tb.Fatalf("inner root with %d children", nd.n)
		}
		for i := 0; i < nd.n; i++ {
			if h == 0 {
				if !first && nd.keys[i] <= last {
					tb.Fatalf("keys out of order: %d after %d", nd.keys[i], last)
				}
				first, last = false, nd.keys[i]
				count++
				continue
			}
			if mx := walk(asInner(nd).kids[i], h-1, false); mx != nd.keys[i] {
				tb.Fatalf("inner key %d, subtree's largest %d", nd.keys[i], mx)
			}
		}
		return nd.keys[nd.n-1]
	}
	walk(s.root, s.height, true)
	if count != s.n {
		tb.Fatalf("counted %d entries, Len says %d", count, s.n)
	}
}

func contents(s *Snapshot[int]) ([]uint64, []int) {
	var ks []uint64
	var vs []int
	s.Ascend(0, func(k uint64, v int) bool {
		ks = append(ks, k)
		vs = append(vs, v)
		return true
	})
	return ks, vs
}

// exercise runs ops, a byte string read as operations, on a tree and the
// model, comparing every answer, and checks that snapshots taken on the
// way still answer as they did.
func exercise(t *testing.T, ops []byte, keySpace uint64) {
	var tr Tree[int]
	m := newModel()
	var snaps []frozen
	for len(ops) >= 9 {
		op := ops[0]
		k := binary.LittleEndian.Uint64(ops[1:9])%keySpace + 1 // keys are VMA ends: never 0
		ops = ops[9:]
		switch op % 8 {
		case 0, 1, 2:
			if got, want := tr.Insert(k, int(k)*3+int(op)), m.insert(k, int(k)*3+int(op)); got != want {
				t.Fatalf("Insert(%d) replaced %v, model %v", k, got, want)
			}
		case 3, 4:
			if got, want := tr.Delete(k), m.delete(k); got != want {
				t.Fatalf("Delete(%d) = %v, model %v", k, got, want)
			}
		case 5:
			// Rekey to a key that keeps the order, as a split or merge does.
			_, _, ok := m.find(k - 1)
			if !ok {
				break
			}
			old, v, _ := m.find(k - 1)
			lo, _, hasLo := m.floor(old - 1)
			hi, _, hasHi := m.find(old)
			nk := old/2 + k%7 + 1
			if hasLo && nk <= lo || hasHi && nk >= hi || nk == 0 {
				break
			}
			if !tr.Rekey(old, nk) {
				t.Fatalf("Rekey(%d, %d) found nothing", old, nk)
			}
			m.delete(old)
			m.insert(nk, v)
		case 6:
			s := tr.Publish()
			ks, vs := contents(s)
			snaps = append(snaps, frozen{s, ks, vs})
		case 7:
			// A published tree changed once copies one path and no more
			// (plus a sibling per level when a node is filled).
			s := tr.Publish()
			before := tr.copies
			tr.Insert(k, 1)
			m.insert(k, 1)
			if c := tr.copies - before; c > 2*(s.height+1) {
				t.Fatalf("one insert after Publish copied %d nodes, height %d", c, s.height)
			}
		}
		check(t, &tr.Snapshot)
		if tr.Len() != len(m.keys) {
			t.Fatalf("Len %d, model %d", tr.Len(), len(m.keys))
		}
		for _, a := range []uint64{k - 1, k, k + 1, k / 2, 0, keySpace + 1} {
			gk, gv, gok := tr.Find(a)
			wk, wv, wok := m.find(a)
			if gk != wk || gv != wv || gok != wok {
				t.Fatalf("Find(%d) = %d,%d,%v, model %d,%d,%v", a, gk, gv, gok, wk, wv, wok)
			}
			gk, gv, gok = tr.Floor(a)
			wk, wv, wok = m.floor(a)
			if gk != wk || gv != wv || gok != wok {
				t.Fatalf("Floor(%d) = %d,%d,%v, model %d,%d,%v", a, gk, gv, gok, wk, wv, wok)
			}
		}
	}
	ks, vs := contents(&tr.Snapshot)
	if !slices.Equal(ks, m.keys) {
		t.Fatalf("Ascend gives %d keys, model %d", len(ks), len(m.keys))
	}
	for i, k := range ks {
		if vs[i] != m.vals[k] {
			t.Fatalf("value of %d is %d, model %d", k, vs[i], m.vals[k])
		}
	}
	var desc []uint64
	tr.Descend(func(k uint64, _ int) bool { desc = append(desc, k); return true })
	slices.Reverse(desc)
	if !slices.Equal(desc, m.keys) {
		t.Fatalf("Descend disagrees with the model")
	}
	// The RCU rule: every snapshot answers as it did when it was taken.
	for i, f := range snaps {
		check(t, f.s)
		ks, vs := contents(f.s)
		if !slices.Equal(ks, f.keys) || !slices.Equal(vs, f.vals) {
			t.Fatalf("snapshot %d changed after later writes", i)
		}
		for j, k := range f.keys {
			if gk, gv, ok := f.s.Find(k - 1); !ok || gk != k || gv != f.vals[j] {
				t.Fatalf("snapshot %d: Find(%d) = %d,%d,%v", i, k-1, gk, gv, ok)
			}
		}
	}
}

// randomOps returns n operations drawn with a seed, biased to inserts
// first and deletes later so that the tree grows several levels and
// shrinks again.
func randomOps(seed uint64, n int, keySpace uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b []byte
	for i := 0; i < n; i++ {
		op := byte(rng.IntN(8))
		switch {
		case i < n/2 && rng.IntN(3) > 0:
			op = byte(rng.IntN(3)) // grow
		case i >= n/2 && rng.IntN(3) > 0:
			op = 3 + byte(rng.IntN(2)) // shrink
		}
		b = append(b, op)
		b = binary.LittleEndian.AppendUint64(b, rng.Uint64N(keySpace))
	}
	return b
}

func TestAgainstModel(t *testing.T) {
	for _, c := range []struct {
		seed     uint64
		n        int
		keySpace uint64
	}{
		{1, 200, 50}, {2, 2000, 300}, {3, 6000, 5000}, {4, 6000, 1 << 40}, {5, 3000, 100},
	} {
		t.Run(fmt.Sprintf("seed%d-n%d-keys%d", c.seed, c.n, c.keySpace), func(t *testing.T) {
			exercise(t, randomOps(c.seed, c.n, c.keySpace), c.keySpace)
		})
	}
}

// TestPublishCopiesOnePath builds a tree of three levels and checks that
// a change after Publish copies the nodes of one path, and a second change
// in the same place copies nothing.
func TestPublishCopiesOnePath(t *testing.T) {
	var tr Tree[int]
	for k := uint64(1); k <= 5000; k++ {
		tr.Insert(k*2, int(k))
	}
	tr.Delete(2000)
	s := tr.Publish()
	if s.height < 2 {
		t.Fatalf("height %d, want a deeper tree", s.height)
	}
	tr.copies = 0
	tr.Insert(2001, 7)
	if tr.copies > 2*(s.height+1) {
		t.Errorf("insert copied %d nodes at height %d", tr.copies, s.height)
	}
	tr.copies = 0
	tr.Rekey(2001, 2000)
	if tr.copies != 0 {
		t.Errorf("a change on the copied path before the next Publish copied %d nodes", tr.copies)
	}
	tr.Publish()
	tr.copies = 0
	tr.Delete(5000)
	if tr.copies > 2*(s.height+1) {
		t.Errorf("delete copied %d nodes at height %d", tr.copies, s.height)
	}
	if _, _, ok := s.Find(1999); !ok {
		t.Fatal("the snapshot lost 2002")
	}
	if k, v, _ := s.Find(1999); k != 2002 || v != 1001 {
		t.Errorf("the snapshot sees %d=%d above 1999, want 2002=1001 (2000 was deleted before it)", k, v)
	}
	if k, v, _ := tr.Find(1999); k != 2000 || v != 7 {
		t.Errorf("the tree has %d=%d, want 2000=7", k, v)
	}
}

func TestRekeyOutOfOrderPanics(t *testing.T) {
	var tr Tree[int]
	for k := uint64(1); k <= 10; k++ {
		tr.Insert(k*10, int(k))
	}
	defer func() {
		if recover() == nil {
			t.Error("Rekey(50, 65) reordered without a panic")
		}
	}()
	tr.Rekey(50, 65)
}

func TestEmpty(t *testing.T) {
	var tr Tree[int]
	if _, _, ok := tr.Find(0); ok {
		t.Error("Find in an empty tree found something")
	}
	if _, _, ok := tr.Floor(^uint64(0)); ok {
		t.Error("Floor in an empty tree found something")
	}
	if tr.Delete(5) || tr.Rekey(5, 6) {
		t.Error("an empty tree deleted or re-keyed something")
	}
	tr.Insert(5, 1)
	tr.Delete(5)
	check(t, &tr.Snapshot)
	if s := tr.Publish(); s.Len() != 0 {
		t.Errorf("Len %d", s.Len())
	}
}

func FuzzTree(f *testing.F) {
	f.Add(randomOps(7, 100, 40), uint64(40))
	f.Add(randomOps(8, 400, 1000), uint64(1000))
	f.Add([]byte{}, uint64(1))
	f.Fuzz(func(t *testing.T, ops []byte, keySpace uint64) {
		keySpace = keySpace%100000 + 1
		exercise(t, ops, keySpace)
	})
}

// BenchmarkFind looks up random keys of trees of 10 and 100 000 entries.
func BenchmarkFind(b *testing.B) {
	for _, n := range []int{10, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var tr Tree[*int]
			x := new(int)
			for k := 1; k <= n; k++ {
				tr.Insert(uint64(k)*8192, x)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			addrs := make([]uint64, 4096)
			for i := range addrs {
				addrs[i] = rng.Uint64N(uint64(n) * 8192)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, ok := tr.Find(addrs[i&4095]); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}

// TestEdgeGrowthFillsNodes: an index grown at one end, as mmap grows an
// address space top-down and a loader bottom-up, keeps its nodes nearly
// full, so it is as shallow as its fanout allows.
func TestEdgeGrowthFillsNodes(t *testing.T) {
	const n = 50000 // 16^4 = 65536 entries fit in height 3; half-full nodes need 4
	for name, key := range map[string]func(i int) uint64{
		"ascending":  func(i int) uint64 { return uint64(i+1) * 4096 },
		"descending": func(i int) uint64 { return uint64(n-i) * 4096 },
	} {
		var tr Tree[int]
		for i := range n {
			tr.Insert(key(i), i)
		}
		check(t, &tr.Snapshot)
		if tr.height > 3 {
			t.Errorf("%s: height %d for %d entries", name, tr.height, n)
		}
	}
}

// BenchmarkInsertDeletePublish inserts a key and deletes it again, each
// change followed by a Publish, as mmap and munmap do, in trees of 10 and
// 100 000 entries; the new key is above all others (mmap below mmap_base
// in an address space grown top-down lands at one end of the index).
func BenchmarkInsertDeletePublish(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var tr Tree[*int]
			x := new(int)
			for k := 1; k <= n; k++ {
				tr.Insert(uint64(k)*8192, x)
			}
			tr.Publish()
			key := uint64(n+1) * 8192
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.Insert(key, x)
				tr.Publish()
				tr.Delete(key)
				tr.Publish()
			}
		})
	}
}
