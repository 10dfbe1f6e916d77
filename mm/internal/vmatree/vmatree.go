// Package vmatree is the ordered index of an address space's VMAs: a B+
// tree keyed by each VMA's end address, with the keys inline in the nodes
// (arrays of uint64, no comparison callbacks), that answers find_vma's
// question (the first entry ending above an address) in one descent.
//
// It is persistent for readers, in the maple tree's manner: Publish
// returns a Snapshot, an immutable view that lockless readers may use
// (lock_vma_under_rcu) while the writer goes on. Every node carries the
// generation it was made in; the writer changes in place the nodes made
// since the last Publish, and copies a node published already before it
// changes it (with its parent, up to the root: the path), so a change
// copies one path and never a whole tree or an untouched subtree.
//
// A Tree is not safe for concurrent writers: the caller serialises them
// (the mmap write lock) and publishes snapshots to readers with an atomic
// store. A Snapshot is safe for any number of concurrent readers.
package vmatree

import "unsafe"

// order is the most entries a node holds (chosen by measurement of
// BenchmarkFindVMA and BenchmarkMmapMunmap against 32: 16 keys are two
// cache lines to scan, and a copied node is 272 bytes).
const order = 16

// minFill is the fewest entries a node other than the root holds once a
// delete passed through it: a delete fills a node of minFill or fewer
// from a sibling before going down into it. A split at an edge leaves a
// node of one entry, which the growth at that edge fills.
const minFill = order / 2

// maxDepth bounds the height: a tree this deep would hold more entries
// than memory.
const maxDepth = 40

// header is what leaves and inner nodes share, first in both, so that a
// pointer to one is a pointer to the node. In a leaf keys[i] is the key
// of entry i; in an inner node it is the largest key under child i, so a
// descent never has to back up.
type header struct {
	keys [order]uint64
	n    int
	gen  uint64 // the generation that made it; frozen once published
}

// leaf is a node at height 0: the entries' values.
type leaf[V any] struct {
	header
	vals [order]V
}

// inner is a node above the leaves: its children, all of one height.
// Leaves and inner nodes are separate types so that a copied node holds
// one array of pointers, not two of which one is always empty.
type inner struct {
	header
	kids [order]*header
}

// asLeaf returns the leaf nd heads. Preconditions: nd is at height 0.
func asLeaf[V any](nd *header) *leaf[V] { return (*leaf[V])(unsafe.Pointer(nd)) }

// asInner returns the inner node nd heads. Preconditions: nd is above
// height 0.
func asInner(nd *header) *inner { return (*inner)(unsafe.Pointer(nd)) }

// Snapshot is an immutable view of a tree as it was when published.
type Snapshot[V any] struct {
	root   *header
	height int
	n      int
}

// Tree is the writer's index. The zero Tree is empty and ready to use.
type Tree[V any] struct {
	Snapshot[V]
	gen   uint64
	dirty bool
	// copies counts published nodes copied before a change, for tests
	// that check a change copies one path only.
	copies int
}

// Len returns the number of entries.
func (s *Snapshot[V]) Len() int { return s.n }

// above returns the first index whose key is above addr, or n.
func above(keys *[order]uint64, n int, addr uint64) int {
	i := 0
	for i < n && keys[i] <= addr {
		i++
	}
	return i
}

// atLeast returns the first index whose key is key or above, or n.
func atLeast(keys *[order]uint64, n int, key uint64) int {
	i := 0
	for i < n && keys[i] < key {
		i++
	}
	return i
}

// Find returns the entry with the smallest key above addr (find_vma: the
// first VMA ending above addr).
func (s *Snapshot[V]) Find(addr uint64) (key uint64, v V, ok bool) {
	nd := s.root
	if nd == nil {
		return 0, v, false
	}
	for h := s.height; ; h-- {
		i := above(&nd.keys, nd.n, addr)
		if i == nd.n {
			return 0, v, false
		}
		if h == 0 {
			return nd.keys[i], asLeaf[V](nd).vals[i], true
		}
		nd = asInner(nd).kids[i]
	}
}

// has reports whether there is an entry under key.
func (s *Snapshot[V]) has(key uint64) bool {
	nd := s.root
	if nd == nil {
		return false
	}
	for h := s.height; ; h-- {
		i := atLeast(&nd.keys, nd.n, key)
		if i == nd.n {
			return false
		}
		if h == 0 {
			return nd.keys[i] == key
		}
		nd = asInner(nd).kids[i]
	}
}

// Floor returns the entry with the largest key at or below key (vma_prev
// of a VMA starting at key).
func (s *Snapshot[V]) Floor(key uint64) (k uint64, v V, ok bool) {
	if s.root == nil {
		return 0, v, false
	}
	return floor[V](s.root, s.height, key)
}

func floor[V any](nd *header, h int, key uint64) (k uint64, v V, ok bool) {
	i := above(&nd.keys, nd.n, key) // entries and subtrees below i are all at or below key
	if h == 0 {
		if i == 0 {
			return 0, v, false
		}
		return nd.keys[i-1], asLeaf[V](nd).vals[i-1], true
	}
	if i < nd.n {
		if k, v, ok = floor[V](asInner(nd).kids[i], h-1, key); ok {
			return k, v, true
		}
	}
	if i == 0 {
		return 0, v, false
	}
	nd = asInner(nd).kids[i-1]
	for ; h > 1; h-- {
		nd = asInner(nd).kids[nd.n-1]
	}
	return nd.keys[nd.n-1], asLeaf[V](nd).vals[nd.n-1], true
}

// Ascend calls fn for each entry whose key is above addr, in key order,
// until fn returns false.
func (s *Snapshot[V]) Ascend(addr uint64, fn func(key uint64, v V) bool) {
	if s.root != nil {
		ascend(s.root, s.height, addr, fn)
	}
}

func ascend[V any](nd *header, h int, addr uint64, fn func(uint64, V) bool) bool {
	i := above(&nd.keys, nd.n, addr)
	if h == 0 {
		lf := asLeaf[V](nd)
		for ; i < nd.n; i++ {
			if !fn(lf.keys[i], lf.vals[i]) {
				return false
			}
		}
		return true
	}
	for ; i < nd.n; i++ {
		if !ascend(asInner(nd).kids[i], h-1, addr, fn) {
			return false
		}
	}
	return true
}

// Descend calls fn for every entry, largest key first, until fn returns
// false.
func (s *Snapshot[V]) Descend(fn func(key uint64, v V) bool) {
	if s.root != nil {
		descend(s.root, s.height, fn)
	}
}

func descend[V any](nd *header, h int, fn func(uint64, V) bool) bool {
	for i := nd.n - 1; i >= 0; i-- {
		if h == 0 {
			if !fn(nd.keys[i], asLeaf[V](nd).vals[i]) {
				return false
			}
		} else if !descend(asInner(nd).kids[i], h-1, fn) {
			return false
		}
	}
	return true
}

// Publish freezes the tree as it is and returns the view of it for
// lockless readers: nodes are copied before the next change. The caller
// stores it where readers load it atomically. A tree unchanged since the
// last Publish returns a new view of the same nodes.
func (t *Tree[V]) Publish() *Snapshot[V] {
	if t.gen == 0 || t.dirty {
		t.gen++
		t.dirty = false
	}
	s := t.Snapshot
	return &s
}

// Dirty reports whether the tree changed since the last Publish.
func (t *Tree[V]) Dirty() bool { return t.dirty }

// newNode returns an empty node of height h and the current generation.
func (t *Tree[V]) newNode(h int) *header {
	if h == 0 {
		return &(&leaf[V]{header: header{gen: t.gen}}).header
	}
	return &(&inner{header: header{gen: t.gen}}).header
}

// mut returns nd, a node of height h, or a copy of it when it is
// published already (it belongs to an older generation); the caller
// links the copy in.
func (t *Tree[V]) mut(nd *header, h int) *header {
	if nd.gen == t.gen {
		return nd
	}
	t.copies++
	if h == 0 {
		c := *asLeaf[V](nd)
		c.gen = t.gen
		return &c.header
	}
	c := *asInner(nd)
	c.gen = t.gen
	return &c.header
}

// mutKid returns child i of p, a mutable inner node, made mutable and
// linked in.
func (t *Tree[V]) mutKid(p *inner, i, h int) *header {
	c := t.mut(p.kids[i], h)
	p.kids[i] = c
	return c
}

// Insert adds v under key, replacing the entry already there; it reports
// whether there was one.
func (t *Tree[V]) Insert(key uint64, v V) bool {
	t.dirty = true
	if t.root == nil {
		t.root, t.height = t.newNode(0), 0
	}
	nd := t.mut(t.root, t.height)
	t.root = nd
	if nd.n == order {
		r := asInner(t.newNode(t.height + 1))
		r.kids[0], r.keys[0], r.n = nd, nd.keys[nd.n-1], 1
		t.split(r, 0, t.height, splitPoint(nd, key))
		t.root, nd = &r.header, &r.header
		t.height++
	}
	for h := t.height; h > 0; h-- {
		p := asInner(nd)
		i := atLeast(&p.keys, p.n, key)
		if i == p.n {
			i = p.n - 1
			p.keys[i] = key // the new largest key goes into the last subtree
		}
		c := t.mutKid(p, i, h-1)
		if c.n == order {
			t.split(p, i, h-1, splitPoint(c, key))
			if key > p.keys[i] {
				i++
			}
			c = p.kids[i]
		}
		nd = c
	}
	lf := asLeaf[V](nd)
	i := atLeast(&lf.keys, lf.n, key)
	if i < lf.n && lf.keys[i] == key {
		lf.vals[i] = v
		return true
	}
	copy(lf.keys[i+1:lf.n+1], lf.keys[i:lf.n])
	copy(lf.vals[i+1:lf.n+1], lf.vals[i:lf.n])
	lf.keys[i], lf.vals[i] = key, v
	lf.n++
	t.n++
	return false
}

// splitPoint returns how many entries of the full node c the left half
// keeps when key goes in: half, except at an edge. Address spaces grow at
// an end (mmap places top-down, a loader bottom-up), so a key beyond c's
// last or before its first leaves c full and starts the new node with one
// entry, instead of leaving a trail of half-empty nodes.
func splitPoint(c *header, key uint64) int {
	switch {
	case key > c.keys[c.n-1]:
		return c.n - 1
	case key < c.keys[0]:
		return 1
	}
	return order / 2
}

// split moves the entries of p.kids[i], a full node at height h that is
// mutable already, from index half on into a new node placed after it.
func (t *Tree[V]) split(p *inner, i, h, half int) {
	c := p.kids[i]
	r := t.newNode(h)
	r.n = c.n - half
	copy(r.keys[:], c.keys[half:c.n])
	if h == 0 {
		cl, rl := asLeaf[V](c), asLeaf[V](r)
		copy(rl.vals[:], cl.vals[half:c.n])
		clear(cl.vals[half:c.n])
	} else {
		ci, ri := asInner(c), asInner(r)
		copy(ri.kids[:], ci.kids[half:c.n])
		clear(ci.kids[half:c.n])
	}
	clear(c.keys[half:c.n])
	c.n = half
	copy(p.keys[i+2:p.n+1], p.keys[i+1:p.n])
	copy(p.kids[i+2:p.n+1], p.kids[i+1:p.n])
	p.keys[i+1], p.kids[i+1] = p.keys[i], r
	p.keys[i] = c.keys[c.n-1]
	p.n++
}

// pathStep is one inner node of a descent and the child taken.
type pathStep struct {
	nd *inner
	i  int
}

// Delete removes the entry under key and reports whether there was one.
func (t *Tree[V]) Delete(key uint64) bool {
	if !t.has(key) {
		return false
	}
	t.dirty = true
	var path [maxDepth]pathStep
	nd := t.mut(t.root, t.height)
	t.root = nd
	depth := 0
	for h := t.height; h > 0; h-- {
		p := asInner(nd)
		i := atLeast(&p.keys, p.n, key)
		c := t.mutKid(p, i, h-1)
		if c.n <= minFill && p.n > 1 {
			i = t.fill(p, i, h-1)
			c = p.kids[i]
		}
		path[depth] = pathStep{p, i}
		depth++
		nd = c
	}
	lf := asLeaf[V](nd)
	i := atLeast(&lf.keys, lf.n, key)
	t.takeOut(nd, i, 0)
	t.n--
	// The largest key under each node of the path may have gone down.
	for d := depth - 1; d >= 0 && nd.n > 0; d-- {
		p := path[d]
		p.nd.keys[p.i] = nd.keys[nd.n-1]
		nd = &p.nd.header
	}
	for t.height > 0 && t.root.n == 1 {
		t.root = asInner(t.root).kids[0]
		t.height--
	}
	if t.n == 0 {
		t.root, t.height = nil, 0
	}
	return true
}

// fill gives p.kids[i], at height h and mutable, more than minFill
// entries, borrowing one from a sibling or merging with one, and returns
// the index of the child that now covers what kids[i] did.
func (t *Tree[V]) fill(p *inner, i, h int) int {
	c := p.kids[i]
	if i > 0 && p.kids[i-1].n > minFill {
		l := t.mutKid(p, i-1, h)
		t.moveEntry(c, 0, l, l.n-1, h)
		p.keys[i-1] = l.keys[l.n-1]
		return i
	}
	if i < p.n-1 && p.kids[i+1].n > minFill {
		r := t.mutKid(p, i+1, h)
		t.moveEntry(c, c.n, r, 0, h)
		p.keys[i] = c.keys[c.n-1]
		return i
	}
	if i > 0 {
		l := t.mutKid(p, i-1, h)
		t.merge(l, c, h)
		p.keys[i-1] = p.keys[i]
		t.takeOut(&p.header, i, 1)
		return i - 1
	}
	t.merge(c, p.kids[i+1], h) // the right one is dropped: read, never written
	p.keys[i] = p.keys[i+1]
	t.takeOut(&p.header, i+1, 1)
	return i
}

// moveEntry moves entry si of src into dst at index di, both nodes of
// height h and mutable.
func (t *Tree[V]) moveEntry(dst *header, di int, src *header, si, h int) {
	copy(dst.keys[di+1:dst.n+1], dst.keys[di:dst.n])
	dst.keys[di] = src.keys[si]
	if h == 0 {
		d, s := asLeaf[V](dst), asLeaf[V](src)
		copy(d.vals[di+1:dst.n+1], d.vals[di:dst.n])
		d.vals[di] = s.vals[si]
	} else {
		d, s := asInner(dst), asInner(src)
		copy(d.kids[di+1:dst.n+1], d.kids[di:dst.n])
		d.kids[di] = s.kids[si]
	}
	dst.n++
	t.takeOut(src, si, h)
}

// takeOut removes entry i of nd, a mutable node of height h, and clears
// the slot freed, so that it keeps nothing alive.
func (t *Tree[V]) takeOut(nd *header, i, h int) {
	n := nd.n - 1
	copy(nd.keys[i:n], nd.keys[i+1:nd.n])
	nd.keys[n] = 0
	if h == 0 {
		lf := asLeaf[V](nd)
		copy(lf.vals[i:n], lf.vals[i+1:nd.n])
		var zero V
		lf.vals[n] = zero
	} else {
		in := asInner(nd)
		copy(in.kids[i:n], in.kids[i+1:nd.n])
		in.kids[n] = nil
	}
	nd.n = n
}

// merge appends r's entries to l, nodes of height h, l mutable.
func (t *Tree[V]) merge(l, r *header, h int) {
	copy(l.keys[l.n:], r.keys[:r.n])
	if h == 0 {
		copy(asLeaf[V](l).vals[l.n:], asLeaf[V](r).vals[:r.n])
	} else {
		copy(asInner(l).kids[l.n:], asInner(r).kids[:r.n])
	}
	l.n += r.n
}

// Rekey moves the entry under old to key, which must keep its place in
// the order (a VMA whose end moves between its neighbours', as a split or
// merge moves it); it reports whether there was an entry under old.
func (t *Tree[V]) Rekey(old, key uint64) bool {
	if !t.has(old) {
		return false
	}
	t.dirty = true
	var path [maxDepth]pathStep
	nd := t.mut(t.root, t.height)
	t.root = nd
	depth := 0
	for h := t.height; h > 0; h-- {
		p := asInner(nd)
		i := atLeast(&p.keys, p.n, old)
		path[depth] = pathStep{p, i}
		depth++
		nd = t.mutKid(p, i, h-1)
	}
	i := atLeast(&nd.keys, nd.n, old)
	if i > 0 && nd.keys[i-1] >= key || i < nd.n-1 && nd.keys[i+1] <= key {
		panic("vmatree: Rekey would reorder the entries")
	}
	nd.keys[i] = key
	for d := depth - 1; d >= 0; d-- {
		p := path[d]
		p.nd.keys[p.i] = nd.keys[nd.n-1]
		nd = &p.nd.header
	}
	return true
}
