// Package vmatree is the ordered index of an address space's VMAs: a B+
// tree keyed by each VMA's end address, with the keys inline in the nodes
// (arrays of uint64, no comparison callbacks), that answers find_vma's
// question (the first entry ending above an address) in one descent.
//
// It is safe for lockless readers in the maple tree's manner (RCU mode):
// a node, once reachable, never changes, except for the child pointers of
// an inner node, which are atomic. A change builds the nodes it needs
// anew and links them in with one atomic store into the slot of the
// lowest node it keeps. An inner node's pivots are range bounds, not the
// largest key under a child, so a key that comes or goes inside a leaf's
// range changes no pivot: such a change copies one leaf and stores one
// pointer, whatever the depth. A split or merge copies the parent too,
// and so on up as far as it reaches.
//
// A reader that races a change sees each node from before the change or
// from after it; a descent that lands in a leaf without the answer goes
// on to the next leaf, which may be of a later version. The caller
// (lock_vma_under_rcu) checks what it found under the entry's own lock.
//
// A Tree is not safe for concurrent writers: the caller serialises them
// (the mmap write lock). Find, Floor, Ascend and Descend may run
// concurrently with one writer and with each other.
package vmatree

import (
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// leafSlots is the most entries a leaf holds, innerSlots the most
// children of an inner node. 15 keys of a leaf and 15 pivots of an inner
// node are two cache lines, searched in one pass; a leaf (8 + 15×16
// bytes) and an inner node (8 + 15×8 + 16×8) are each 256 bytes, a size
// class of Go's allocator whose objects are cache-line aligned.
const (
	leafSlots  = 15
	innerSlots = 16
)

// leafMin and innerMin are the fewest entries a node other than the root
// keeps once a delete reached it: under that it takes entries from a
// sibling or merges with one. A split at an edge leaves a leaf of one
// entry and an inner node of two children, which the growth at that edge
// fills.
const (
	leafMin  = leafSlots / 4
	innerMin = innerSlots / 4
)

// maxDepth bounds the height: a tree this deep would hold more entries
// than memory.
const maxDepth = 40

// noKey fills the unused key and pivot slots: a search counts the slots
// at or below an address, and no address of a lookup is noKey, so they
// never count. It is no valid key.
const noKey = ^uint64(0)

// header is what leaves and inner nodes share, first in both, so that a
// pointer to one is a pointer to the node.
type header struct {
	n      int32 // entries of a leaf, children of an inner node
	height int32 // 0 for a leaf
}

// keys are a node's ordered keys (a leaf) or pivots (an inner node),
// unused slots holding noKey.
type keys [leafSlots]uint64

// leaf is a node at height 0: the entries, keys apart from values so that
// a search reads two cache lines.
type leaf[V any] struct {
	header
	keys keys
	vals [leafSlots]V
}

// inner is a node above the leaves. Child i holds the keys k with
// pivots[i-1] < k <= pivots[i], the first child's range starting and the
// last one's ending where the node's own does: a pivot is any bound
// between the largest key on its left and the smallest on its right.
type inner struct {
	header
	pivots keys
	kids   [innerSlots]atomic.Pointer[header]
}

// asLeaf returns the leaf nd heads. Preconditions: nd.height == 0.
func asLeaf[V any](nd *header) *leaf[V] { return (*leaf[V])(unsafe.Pointer(nd)) }

// asInner returns the inner node nd heads. Preconditions: nd.height > 0.
func asInner(nd *header) *inner { return (*inner)(unsafe.Pointer(nd)) }

// Tree is the index. The zero Tree is empty and ready to use.
type Tree[V any] struct {
	root atomic.Pointer[header]
	// n is the number of entries; the writer's.
	n int
	// made counts the nodes changes made, for tests that check how much
	// a change copies.
	made int
}

// Len returns the number of entries. Preconditions: no writer runs
// concurrently (the caller holds the mmap lock).
func (t *Tree[V]) Len() int { return t.n }

// atOrBelow returns how many of ks are at or below x: in a leaf, the
// index of the first key above x; in an inner node, the child whose range
// holds the first key above x. It compares every slot, with no branch
// whose outcome depends on the keys (a binary search over random
// addresses mispredicts about every other step).
func atOrBelow(ks *keys, x uint64) int {
	// The borrow of x - k is 1 when k > x; three sums keep the
	// subtractions independent.
	var b0, b1, b2 uint64
	for i := 0; i < leafSlots; i += 3 {
		_, c0 := bits.Sub64(x, ks[i], 0)
		_, c1 := bits.Sub64(x, ks[i+1], 0)
		_, c2 := bits.Sub64(x, ks[i+2], 0)
		b0 += c0
		b1 += c1
		b2 += c2
	}
	return leafSlots - int(b0+b1+b2)
}

// below returns how many of ks are below x: the index where key x is or
// would go in a leaf, the child whose range holds key x in an inner node.
func below(ks *keys, x uint64) int {
	if x == 0 {
		return 0
	}
	return atOrBelow(ks, x-1)
}

// Find returns the entry with the smallest key above addr (find_vma: the
// first VMA ending above addr).
func (t *Tree[V]) Find(addr uint64) (key uint64, v V, ok bool) {
	nd := t.root.Load()
	if nd == nil || addr == noKey {
		return 0, v, false
	}
	// The deepest node of the descent with a child right of the one
	// taken: where the answer is when the leaf reached has none.
	var right *inner
	ri := 0
	for nd.height > 0 {
		in := asInner(nd)
		i := atOrBelow(&in.pivots, addr)
		if i+1 < int(in.n) {
			right, ri = in, i+1
		}
		nd = in.kids[i].Load()
	}
	lf := asLeaf[V](nd)
	if i := atOrBelow(&lf.keys, addr); i < int(nd.n) {
		return lf.keys[i], lf.vals[i], true
	}
	if right == nil {
		return 0, v, false
	}
	// Every key of the leaf is at or below addr, and every key of the
	// subtrees right of it above: the next one is the first of them.
	for nd = right.kids[ri].Load(); nd.height > 0; {
		nd = asInner(nd).kids[0].Load()
	}
	lf = asLeaf[V](nd)
	return lf.keys[0], lf.vals[0], true
}

// Floor returns the entry with the largest key at or below key (vma_prev
// of a VMA starting at key).
func (t *Tree[V]) Floor(key uint64) (k uint64, v V, ok bool) {
	nd := t.root.Load()
	if nd == nil {
		return 0, v, false
	}
	var left *inner // the deepest node with a child left of the one taken
	li := 0
	for nd.height > 0 {
		in := asInner(nd)
		i := below(&in.pivots, key) // the child whose range holds key
		if i > 0 {
			left, li = in, i-1
		}
		nd = in.kids[i].Load()
	}
	lf := asLeaf[V](nd)
	i := int(nd.n)
	if key != noKey {
		i = min(i, atOrBelow(&lf.keys, key))
	}
	if i > 0 {
		return lf.keys[i-1], lf.vals[i-1], true
	}
	if left == nil {
		return 0, v, false
	}
	for nd = left.kids[li].Load(); nd.height > 0; {
		nd = asInner(nd).kids[nd.n-1].Load()
	}
	lf = asLeaf[V](nd)
	return lf.keys[nd.n-1], lf.vals[nd.n-1], true
}

// Ascend calls fn for each entry whose key is above addr, in key order,
// until fn returns false.
func (t *Tree[V]) Ascend(addr uint64, fn func(key uint64, v V) bool) {
	if nd := t.root.Load(); nd != nil && addr != noKey {
		ascend(nd, addr, fn)
	}
}

func ascend[V any](nd *header, addr uint64, fn func(uint64, V) bool) bool {
	if nd.height == 0 {
		lf := asLeaf[V](nd)
		for i := atOrBelow(&lf.keys, addr); i < int(nd.n); i++ {
			if !fn(lf.keys[i], lf.vals[i]) {
				return false
			}
		}
		return true
	}
	in := asInner(nd)
	for i := atOrBelow(&in.pivots, addr); i < int(nd.n); i++ {
		if !ascend(in.kids[i].Load(), addr, fn) {
			return false
		}
	}
	return true
}

// Descend calls fn for every entry, largest key first, until fn returns
// false.
func (t *Tree[V]) Descend(fn func(key uint64, v V) bool) {
	if nd := t.root.Load(); nd != nil {
		descend(nd, fn)
	}
}

func descend[V any](nd *header, fn func(uint64, V) bool) bool {
	for i := int(nd.n) - 1; i >= 0; i-- {
		if nd.height == 0 {
			lf := asLeaf[V](nd)
			if !fn(lf.keys[i], lf.vals[i]) {
				return false
			}
		} else if !descend(asInner(nd).kids[i].Load(), fn) {
			return false
		}
	}
	return true
}

// step is one inner node of a descent and the child taken.
type step struct {
	nd *inner
	i  int
}

// path is a descent from the root: the inner nodes passed, the last one
// the parent of the node reached.
type path struct {
	s [maxDepth]step
	d int
}

// find returns the leaf's entry count, the index of its first key at or
// above key, and whether that key is key itself.
func (lf *leaf[V]) find(key uint64) (n, i int, found bool) {
	n = int(lf.n)
	i = below(&lf.keys, key)
	return n, i, i < n && lf.keys[i] == key
}

// descendTo walks to the leaf whose range holds key, recording the path,
// and returns the leaf and its range: keys above lo (or from 0 when
// !hasLo) up to hi.
func (t *Tree[V]) descendTo(key uint64, p *path) (lf *leaf[V], lo uint64, hasLo bool, hi uint64) {
	nd := t.root.Load()
	hi = noKey
	for nd.height > 0 {
		in := asInner(nd)
		i := below(&in.pivots, key)
		if i > 0 {
			lo, hasLo = in.pivots[i-1], true
		}
		if i < int(in.n)-1 {
			hi = in.pivots[i]
		}
		p.s[p.d] = step{in, i}
		p.d++
		nd = in.kids[i].Load()
	}
	return asLeaf[V](nd), lo, hasLo, hi
}

// link makes nd, a node built for the change, the child the last step of
// p took (the root when p is empty): the one store that publishes it.
func (t *Tree[V]) link(p *path, nd *header) {
	if p.d == 0 {
		t.root.Store(nd)
		return
	}
	s := p.s[p.d-1]
	s.nd.kids[s.i].Store(nd)
}

// newLeaf returns a new leaf of n entries, their keys and values to be
// filled in.
func (t *Tree[V]) newLeaf(n int) *leaf[V] {
	t.made++
	lf := new(leaf[V])
	lf.n = int32(n)
	for i := n; i < leafSlots; i++ {
		lf.keys[i] = noKey
	}
	return lf
}

// leafOf returns a new leaf of the entries ks, vs.
func (t *Tree[V]) leafOf(ks []uint64, vs []V) *header {
	lf := t.newLeaf(len(ks))
	copy(lf.keys[:], ks)
	copy(lf.vals[:], vs)
	return &lf.header
}

// innerOf returns a new inner node of height h, children kids and pivots
// ps (one fewer).
func (t *Tree[V]) innerOf(h int32, kids []*header, ps []uint64) *header {
	t.made++
	in := new(inner)
	in.n, in.height = int32(len(kids)), h
	copy(in.pivots[:], ps)
	for i := len(ps); i < leafSlots; i++ {
		in.pivots[i] = noKey
	}
	for i, k := range kids {
		in.kids[i].Store(k)
	}
	return &in.header
}

// kidsOf copies the children of in into dst and returns how many.
func kidsOf(dst []*header, in *inner) int {
	for i := range int(in.n) {
		dst[i] = in.kids[i].Load()
	}
	return int(in.n)
}

// Insert adds v under key, replacing the entry already there; it reports
// whether there was one. Preconditions: key is not 2^64-1.
func (t *Tree[V]) Insert(key uint64, v V) bool {
	if key == noKey {
		panic("vmatree: the key 2^64-1")
	}
	if t.root.Load() == nil {
		t.root.Store(t.leafOf([]uint64{key}, []V{v}))
		t.n = 1
		return false
	}
	var p path
	lf, _, _, _ := t.descendTo(key, &p)
	n, i, found := lf.find(key)
	if found {
		c := t.leafOf(lf.keys[:n], lf.vals[:n])
		asLeaf[V](c).vals[i] = v
		t.link(&p, c)
		return true
	}
	t.n++
	if n < leafSlots { // the common case, built in place
		c := t.newLeaf(n + 1)
		copy(c.keys[:i], lf.keys[:i])
		copy(c.keys[i+1:], lf.keys[i:n])
		copy(c.vals[:i], lf.vals[:i])
		copy(c.vals[i+1:], lf.vals[i:n])
		c.keys[i], c.vals[i] = key, v
		t.link(&p, &c.header)
		return false
	}
	var kb [leafSlots + 1]uint64
	var vb [leafSlots + 1]V
	copy(kb[:i], lf.keys[:i])
	copy(kb[i+1:], lf.keys[i:n])
	copy(vb[:i], lf.vals[:i])
	copy(vb[i+1:], lf.vals[i:n])
	kb[i], vb[i] = key, v
	n++
	// Address spaces grow at an end (mmap places top-down, a loader
	// bottom-up): a key beyond the last or before the first starts a leaf
	// of its own and leaves the others together, instead of a trail of
	// half-empty leaves.
	half := n / 2
	switch i {
	case n - 1:
		half = n - 1
	case 0:
		half = 1
	}
	l, r := t.leafOf(kb[:half], vb[:half]), t.leafOf(kb[half:n], vb[half:n])
	t.insertUp(&p, l, r, kb[half-1])
	return false
}

// insertUp puts l and r, split from the child the last step of p took,
// in its place, with sep the pivot between them, splitting the parent in
// turn when it is full.
func (t *Tree[V]) insertUp(p *path, l, r *header, sep uint64) {
	for {
		if p.d == 0 {
			t.root.Store(t.innerOf(l.height+1, []*header{l, r}, []uint64{sep}))
			return
		}
		s := p.s[p.d-1]
		in, i := s.nd, s.i
		var kb [innerSlots + 1]*header
		var pb [innerSlots]uint64
		n := kidsOf(kb[1:], in) // kids from kb[1]: shifted into place below
		copy(kb[:i], kb[1:i+1])
		kb[i], kb[i+1] = l, r
		copy(pb[:i], in.pivots[:i])
		copy(pb[i+1:], in.pivots[i:n-1])
		pb[i] = sep
		n++
		if n <= innerSlots {
			p.d--
			t.link(p, t.innerOf(in.height, kb[:n], pb[:n-1]))
			return
		}
		half := n / 2 // an edge split keeps two children on the new side
		switch i {
		case n - 2:
			half = n - 2
		case 0:
			half = 2
		}
		l = t.innerOf(in.height, kb[:half], pb[:half-1])
		r = t.innerOf(in.height, kb[half:n], pb[half:n-1])
		sep = pb[half-1]
		p.d--
	}
}

// Delete removes the entry under key and reports whether there was one.
func (t *Tree[V]) Delete(key uint64) bool {
	if t.root.Load() == nil || key == noKey {
		return false
	}
	var p path
	lf, _, _, _ := t.descendTo(key, &p)
	n, i, found := lf.find(key)
	if !found {
		return false
	}
	t.n--
	if n-1 >= leafMin || p.d == 0 { // the common case, built in place
		if n == 1 {
			t.root.Store(nil)
			return true
		}
		c := t.newLeaf(n - 1)
		copy(c.keys[:], lf.keys[:i])
		copy(c.keys[i:], lf.keys[i+1:n])
		copy(c.vals[:], lf.vals[:i])
		copy(c.vals[i:], lf.vals[i+1:n])
		t.link(&p, &c.header)
		return true
	}
	var kb [2 * leafSlots]uint64
	var vb [2 * leafSlots]V
	copy(kb[:], lf.keys[:i])
	copy(kb[i:], lf.keys[i+1:n])
	copy(vb[:], lf.vals[:i])
	copy(vb[i:], lf.vals[i+1:n])
	n--
	// Too few left: take in a sibling's entries, all of them when they
	// fit, else half of the two leaves' together.
	s := p.s[p.d-1]
	li := s.i
	var sib *leaf[V]
	if li+1 < int(s.nd.n) {
		sib = asLeaf[V](s.nd.kids[li+1].Load())
		copy(kb[n:], sib.keys[:sib.n])
		copy(vb[n:], sib.vals[:sib.n])
	} else {
		li--
		sib = asLeaf[V](s.nd.kids[li].Load())
		copy(kb[sib.n:], kb[:n])
		copy(vb[sib.n:], vb[:n])
		copy(kb[:], sib.keys[:sib.n])
		copy(vb[:], sib.vals[:sib.n])
	}
	n += int(sib.n)
	if n <= leafSlots {
		t.removeUp(&p, li, t.leafOf(kb[:n], vb[:n]))
		return true
	}
	half := n / 2
	t.replacePair(&p, li, t.leafOf(kb[:half], vb[:half]), t.leafOf(kb[half:n], vb[half:n]), kb[half-1])
	return true
}

// replacePair replaces children li and li+1 of the node the last step of
// p took by l and r, with sep the pivot between them.
func (t *Tree[V]) replacePair(p *path, li int, l, r *header, sep uint64) {
	in := p.s[p.d-1].nd
	var kb [innerSlots]*header
	var pb [innerSlots - 1]uint64
	n := kidsOf(kb[:], in)
	copy(pb[:], in.pivots[:n-1])
	kb[li], kb[li+1], pb[li] = l, r, sep
	p.d--
	t.link(p, t.innerOf(in.height, kb[:n], pb[:n-1]))
}

// removeUp replaces children li and li+1 of the node the last step of p
// took by merged, the two merged, and fills that node in turn from a
// sibling when it has too few children left.
func (t *Tree[V]) removeUp(p *path, li int, merged *header) {
	for {
		in := p.s[p.d-1].nd
		var kb [2 * innerSlots]*header
		var pb [2 * innerSlots]uint64
		n := kidsOf(kb[:], in)
		copy(kb[li+1:], kb[li+2:n])
		kb[li] = merged
		copy(pb[:], in.pivots[:li])
		copy(pb[li:], in.pivots[li+1:n-1])
		n--
		p.d--
		if p.d == 0 { // in is the root
			if n == 1 {
				t.root.Store(kb[0])
			} else {
				t.root.Store(t.innerOf(in.height, kb[:n], pb[:n-1]))
			}
			return
		}
		if n >= innerMin {
			t.link(p, t.innerOf(in.height, kb[:n], pb[:n-1]))
			return
		}
		s := p.s[p.d-1]
		li = s.i
		if li+1 < int(s.nd.n) {
			sib := asInner(s.nd.kids[li+1].Load())
			pb[n-1] = s.nd.pivots[li]
			copy(pb[n:], sib.pivots[:sib.n-1])
			kidsOf(kb[n:], sib)
			n += int(sib.n)
		} else {
			li--
			sib := asInner(s.nd.kids[li].Load())
			m := int(sib.n)
			copy(kb[m:], kb[:n])
			copy(pb[m:], pb[:n-1])
			kidsOf(kb[:], sib)
			copy(pb[:], sib.pivots[:m-1])
			pb[m-1] = s.nd.pivots[li]
			n += m
		}
		if n <= innerSlots {
			merged = t.innerOf(in.height, kb[:n], pb[:n-1])
			continue
		}
		half := n / 2
		t.replacePair(p, li, t.innerOf(in.height, kb[:half], pb[:half-1]), t.innerOf(in.height, kb[half:n], pb[half:n-1]), pb[half-1])
		return
	}
}

// Rekey moves the entry under old to key, which must keep its place in
// the order (a VMA whose end moves between its neighbours', as a split or
// merge moves it); it reports whether there was an entry under old. A key
// that stays in its leaf's range copies the leaf alone.
func (t *Tree[V]) Rekey(old, key uint64) bool {
	if t.root.Load() == nil || old == noKey {
		return false
	}
	var p path
	lf, lo, hasLo, hi := t.descendTo(old, &p)
	n, i, found := lf.find(old)
	if !found {
		return false
	}
	if key == old {
		return true
	}
	if key == noKey || i > 0 && lf.keys[i-1] >= key || i+1 < n && lf.keys[i+1] <= key {
		panic("vmatree: Rekey would reorder the entries")
	}
	if (!hasLo || key > lo) && key <= hi {
		c := t.leafOf(lf.keys[:n], lf.vals[:n])
		asLeaf[V](c).keys[i] = key
		t.link(&p, c)
		return true
	}
	// Out of the leaf's range: the neighbours are in other leaves.
	v := lf.vals[i]
	if pk, _, ok := t.Floor(old - 1); old > 0 && ok && pk >= key {
		panic("vmatree: Rekey would reorder the entries")
	}
	if nk, _, ok := t.Find(old); ok && nk <= key {
		panic("vmatree: Rekey would reorder the entries")
	}
	t.Delete(old)
	t.Insert(key, v)
	return true
}

// Check verifies the tree's shape: every leaf at one depth, keys in
// order and inside their leaf's range, unused slots empty, every node
// holding at least one entry (a leaf) or two children (an inner node),
// and the count right.
// Preconditions: no writer runs concurrently.
func (t *Tree[V]) Check() error {
	nd := t.root.Load()
	if nd == nil {
		if t.n != 0 {
			return fmt.Errorf("vmatree: empty, with a count of %d", t.n)
		}
		return nil
	}
	c := checker{height: nd.height}
	if err := c.node(nd, 0, false, noKey); err != nil {
		return err
	}
	if c.count != t.n {
		return fmt.Errorf("vmatree: a count of %d, %d entries", t.n, c.count)
	}
	return nil
}

// checker is the state of Check's walk.
type checker struct {
	height int32
	count  int
	last   uint64
	seen   bool
}

// node checks nd, whose range is (lo, hi] (from 0 when !hasLo), at the
// height its parent's says.
func (c *checker) node(nd *header, lo uint64, hasLo bool, hi uint64) error {
	minN := int32(1)
	if nd.height > 0 {
		minN = 2
	}
	if nd.n < minN || nd.height == 0 && nd.n > leafSlots || nd.n > innerSlots {
		return fmt.Errorf("vmatree: a node of height %d holds %d", nd.height, nd.n)
	}
	var ks *keys
	n := int(nd.n)
	if nd.height == 0 {
		ks = &asLeaf[struct{}](nd).keys
	} else {
		ks = &asInner(nd).pivots
		n--
	}
	for i, k := range ks {
		switch {
		case i >= n && k != noKey:
			return fmt.Errorf("vmatree: unused slot %d of a node of height %d holds %d", i, nd.height, k)
		case i >= n:
		case hasLo && k <= lo || k > hi:
			return fmt.Errorf("vmatree: %d out of its node's range (%d, %d]", k, lo, hi)
		case i > 0 && k <= ks[i-1]:
			return fmt.Errorf("vmatree: %d after %d", k, ks[i-1])
		}
	}
	if nd.height == 0 {
		if c.seen && n > 0 && ks[0] <= c.last {
			return fmt.Errorf("vmatree: %d after %d", ks[0], c.last)
		}
		if n > 0 {
			c.last, c.seen = ks[n-1], true
		}
		c.count += n
		return nil
	}
	in := asInner(nd)
	for i := range int(nd.n) {
		k := in.kids[i].Load()
		if k.height != nd.height-1 {
			return fmt.Errorf("vmatree: a child of height %d under one of %d", k.height, nd.height)
		}
		klo, khasLo, khi := lo, hasLo, hi
		if i > 0 {
			klo, khasLo = in.pivots[i-1], true
		}
		if i < n {
			khi = in.pivots[i]
		}
		if err := c.node(k, klo, khasLo, khi); err != nil {
			return err
		}
	}
	return nil
}
