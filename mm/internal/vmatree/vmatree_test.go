package vmatree

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
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

// check verifies the tree's shape (Check).
func check[V any](tb testing.TB, tr *Tree[V]) {
	tb.Helper()
	if err := tr.Check(); err != nil {
		tb.Fatal(err)
	}
}

func contents(s *Tree[int]) ([]uint64, []int) {
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
// model, comparing every answer and the nodes each change makes.
func exercise(t *testing.T, ops []byte, keySpace uint64) {
	var tr Tree[int]
	m := newModel()
	for len(ops) >= 9 {
		op := ops[0]
		k := binary.LittleEndian.Uint64(ops[1:9])%keySpace + 1 // keys are VMA ends: never 0
		ops = ops[9:]
		before, height := tr.made, tr.height()
		switch op % 8 {
		case 0, 1, 2, 7:
			if got, want := tr.Insert(k, int(k)*3+int(op)), m.insert(k, int(k)*3+int(op)); got != want {
				t.Fatalf("Insert(%d) replaced %v, model %v", k, got, want)
			}
		case 3, 4, 6:
			if got, want := tr.Delete(k), m.delete(k); got != want {
				t.Fatalf("Delete(%d) = %v, model %v", k, got, want)
			}
		case 5:
			// Rekey to a key that keeps the order, as a split or merge does.
			old, v, ok := m.find(k - 1)
			if !ok {
				break
			}
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
		}
		// A change makes at most two nodes a level and a new root (a split
		// all the way up), and twice that when a Rekey leaves its leaf.
		if made := tr.made - before; made > 2*(2*height+3) {
			t.Fatalf("one change made %d nodes at height %d", made, height)
		}
		check(t, &tr)
		if tr.Len() != len(m.keys) {
			t.Fatalf("Len %d, model %d", tr.Len(), len(m.keys))
		}
		for _, a := range []uint64{k - 1, k, k + 1, k / 2, 0, keySpace + 1, noKey} {
			gk, gv, gok := tr.Find(a)
			wk, wv, wok := m.find(a)
			if a == noKey {
				wok, wk, wv = false, 0, 0
			}
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
	ks, vs := contents(&tr)
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
	for _, a := range []uint64{0, keySpace / 3, keySpace / 2} {
		var got []uint64
		tr.Ascend(a, func(k uint64, _ int) bool { got = append(got, k); return len(got) < 5 })
		var want []uint64
		for _, k := range m.keys {
			if k > a && len(want) < 5 {
				want = append(want, k)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Ascend(%d) gives %v, model %v", a, got, want)
		}
	}
}

// height returns the tree's height, 0 for an empty one.
func (t *Tree[V]) height() int {
	if nd := t.root.Load(); nd != nil {
		return int(nd.height)
	}
	return 0
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

// TestInLeafChangeCopiesOneLeaf builds a tree of four levels and checks
// that a change that stays inside one leaf's range makes one node, the
// new leaf, and keeps every inner node of the path: the leaf is published
// by one store into its parent's slot, whatever the depth.
func TestInLeafChangeCopiesOneLeaf(t *testing.T) {
	var tr Tree[int]
	for k := uint64(1); k <= 20000; k++ {
		tr.Insert(k*4, int(k))
	}
	if tr.height() < 3 {
		t.Fatalf("height %d, want a deeper tree", tr.height())
	}
	// Grown in order, the leaves are full: make room around the keys
	// the changes below go between.
	for _, k := range []uint64{3996, 4000, 4004, 4008, 11996, 12000, 12004, 12008} {
		tr.Delete(k)
	}
	pathOf := func(key uint64) []*inner {
		var p path
		tr.descendTo(key, &p)
		var nodes []*inner
		for _, s := range p.s[:p.d] {
			nodes = append(nodes, s.nd)
		}
		return nodes
	}
	for _, c := range []struct {
		name   string
		key    uint64
		change func()
	}{
		{"insert into a hole", 4001, func() { tr.Insert(4001, 7) }},
		{"delete", 4001, func() { tr.Delete(4001) }},
		{"replace", 8000, func() { tr.Insert(8000, 9) }},
		{"rekey inside the leaf", 8000, func() { tr.Rekey(8000, 7999) }},
		{"delete the last key", 80000, func() { tr.Delete(80000) }},
		{"insert above every key", 80001, func() { tr.Insert(80001, 1) }},
	} {
		before := pathOf(c.key)
		made := tr.made
		c.change()
		if n := tr.made - made; n != 1 {
			t.Errorf("%s made %d nodes, want the one leaf", c.name, n)
		}
		if after := pathOf(c.key); !slices.Equal(before, after) {
			t.Errorf("%s replaced inner nodes of the path", c.name)
		}
		check(t, &tr)
	}
	if k, v, _ := tr.Find(7998); k != 7999 || v != 9 {
		t.Errorf("Find(7998) = %d=%d, want 7999=9", k, v)
	}
	for name, fn := range map[string]func(){
		"insert and delete in a hole":  func() { tr.Insert(12001, 1); tr.Delete(12001) },
		"insert and delete at the top": func() { tr.Insert(90001, 1); tr.Delete(90001) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 2 {
			t.Errorf("%s: %v allocations, want 2 (a leaf each)", name, n)
		}
	}
}

// TestReadersDuringChanges runs lockless lookups against a writer whose
// inserts, deletes and re-keys split and merge nodes at every level (run
// it with -race): the keys the writer never touches are always found, and
// a lookup between two of them finds one of the two or a key the writer
// put between them.
func TestReadersDuringChanges(t *testing.T) {
	var tr Tree[int]
	const stable = 3000 // keys 8, 16, ... stay; the writer churns the others
	for k := uint64(1); k <= stable; k++ {
		tr.Insert(k*8, int(k))
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for !stop.Load() {
				j := 1 + rng.Uint64N(stable)
				if k, v, ok := tr.Find(j*8 - 1); !ok || k != j*8 || v != int(j) {
					t.Errorf("Find(%d) = %d=%d %v, want %d=%d", j*8-1, k, v, ok, j*8, j)
					return
				}
				if k, v, ok := tr.Floor(j * 8); !ok || k != j*8 || v != int(j) {
					t.Errorf("Floor(%d) = %d=%d %v, want %d=%d", j*8, k, v, ok, j*8, j)
					return
				}
				if k, _, ok := tr.Find(j * 8); ok && (k <= j*8 || k > j*8+8) {
					t.Errorf("Find(%d) = %d, beyond the next stable key", j*8, k)
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 60000 {
		j := rng.Uint64N(stable)
		k := j*8 + 1 + rng.Uint64N(7)
		switch {
		case i%20000 < 10000: // grow, then shrink: splits, then merges
			tr.Insert(k, -1)
		case rng.IntN(4) == 0:
			if _, _, ok := tr.Find(k - 1); ok && !tr.Delete(k) {
				nk := j*8 + 1 + rng.Uint64N(7)
				if kk, _, _ := tr.Find(j * 8); kk < j*8+8 && kk != nk {
					if lo, _, _ := tr.Floor(kk - 1); lo < nk {
						if hi, _, _ := tr.Find(kk); hi > nk {
							tr.Rekey(kk, nk)
						}
					}
				}
			}
		default:
			tr.Delete(k)
		}
	}
	stop.Store(true)
	wg.Wait()
	check(t, &tr)
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
	check(t, &tr)
	if tr.Len() != 0 || tr.root.Load() != nil {
		t.Errorf("Len %d after the last delete", tr.Len())
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
	const n = 50000 // full nodes hold 15×16^3 = 61440 entries in height 3; half-full ones need 4
	for name, key := range map[string]func(i int) uint64{
		"ascending":  func(i int) uint64 { return uint64(i+1) * 4096 },
		"descending": func(i int) uint64 { return uint64(n-i) * 4096 },
	} {
		var tr Tree[int]
		for i := range n {
			tr.Insert(key(i), i)
		}
		check(t, &tr)
		if tr.height() > 3 {
			t.Errorf("%s: height %d for %d entries", name, tr.height(), n)
		}
	}
}

// BenchmarkInsertDelete inserts a key and deletes it again, as mmap and
// munmap do, in trees of 10, 1000 and 100 000 entries; the new key is
// above all others (mmap below mmap_base in an address space grown
// top-down lands at one end of the index).
func BenchmarkInsertDelete(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var tr Tree[*int]
			x := new(int)
			for k := 1; k <= n; k++ {
				tr.Insert(uint64(k)*8192, x)
			}
			key := uint64(n+1) * 8192
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr.Insert(key, x)
				tr.Delete(key)
			}
		})
	}
}
