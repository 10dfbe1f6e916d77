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

// order is the most entries a node holds (chosen by measurement of
// BenchmarkFindVMA and BenchmarkMmapMunmap: 16 keys are two cache lines
// to scan, and keep the copied path short).
const order = 16

// minFill is the fewest entries a node other than the root holds once a
// delete passed through it: a delete fills a node of minFill or fewer
// from a sibling before going down into it. A split at an edge leaves a
// node of one entry, which the growth at that edge fills.
const minFill = order / 2

// maxDepth bounds the height: minFill^maxDepth entries is far beyond any
// address space (vm.max_map_count is an int).
const maxDepth = 24

// node is a leaf (at height 0) or an inner node. In a leaf keys[i] is the
// key of entry vals[i]; in an inner node it is the largest key under
// kids[i], so a descent never has to back up.
type node[V any] struct {
	keys [order]uint64
	kids [order]*node[V]
	vals [order]V
	n    int
	gen  uint64 // the generation that made it; frozen once published
}

// Snapshot is an immutable view of a tree as it was when published.
type Snapshot[V any] struct {
	root   *node[V]
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

// above returns the first index of nd whose key is above addr, or nd.n.
func above(keys *[order]uint64, n int, addr uint64) int {
	i := 0
	for i < n && keys[i] <= addr {
		i++
	}
	return i
}

// atLeast returns the first index of nd whose key is addr or above, or nd.n.
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
			return nd.keys[i], nd.vals[i], true
		}
		nd = nd.kids[i]
	}
}

// Floor returns the entry with the largest key at or below key (vma_prev
// of a VMA starting at key).
func (s *Snapshot[V]) Floor(key uint64) (k uint64, v V, ok bool) {
	if s.root == nil {
		return 0, v, false
	}
	return floor(s.root, s.height, key)
}

func floor[V any](nd *node[V], h int, key uint64) (k uint64, v V, ok bool) {
	i := above(&nd.keys, nd.n, key) // entries and subtrees below i are all at or below key
	if h == 0 {
		if i == 0 {
			return 0, v, false
		}
		return nd.keys[i-1], nd.vals[i-1], true
	}
	if i < nd.n {
		if k, v, ok = floor(nd.kids[i], h-1, key); ok {
			return k, v, true
		}
	}
	if i == 0 {
		return 0, v, false
	}
	nd = nd.kids[i-1]
	for ; h > 1; h-- {
		nd = nd.kids[nd.n-1]
	}
	return nd.keys[nd.n-1], nd.vals[nd.n-1], true
}

// Ascend calls fn for each entry whose key is above addr, in key order,
// until fn returns false.
func (s *Snapshot[V]) Ascend(addr uint64, fn func(key uint64, v V) bool) {
	if s.root != nil {
		ascend(s.root, s.height, addr, fn)
	}
}

func ascend[V any](nd *node[V], h int, addr uint64, fn func(uint64, V) bool) bool {
	i := above(&nd.keys, nd.n, addr)
	if h == 0 {
		for ; i < nd.n; i++ {
			if !fn(nd.keys[i], nd.vals[i]) {
				return false
			}
		}
		return true
	}
	for ; i < nd.n; i++ {
		if !ascend(nd.kids[i], h-1, addr, fn) {
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

func descend[V any](nd *node[V], h int, fn func(uint64, V) bool) bool {
	for i := nd.n - 1; i >= 0; i-- {
		if h == 0 {
			if !fn(nd.keys[i], nd.vals[i]) {
				return false
			}
		} else if !descend(nd.kids[i], h-1, fn) {
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

// newNode returns an empty node of the current generation.
func (t *Tree[V]) newNode() *node[V] { return &node[V]{gen: t.gen} }

// mut returns nd, or a copy of it when it is published already (it
// belongs to an older generation); the caller links the copy in.
func (t *Tree[V]) mut(nd *node[V]) *node[V] {
	if nd.gen == t.gen {
		return nd
	}
	c := *nd
	c.gen = t.gen
	t.copies++
	return &c
}

// Insert adds v under key, replacing the entry already there; it reports
// whether there was one.
func (t *Tree[V]) Insert(key uint64, v V) bool {
	t.dirty = true
	if t.root == nil {
		t.root = t.newNode()
		t.height = 0
	}
	nd := t.mut(t.root)
	t.root = nd
	if nd.n == order {
		r := t.newNode()
		r.kids[0], r.keys[0], r.n = nd, nd.keys[nd.n-1], 1
		t.split(r, 0, t.height, splitPoint(nd, key))
		t.root, nd = r, r
		t.height++
	}
	for h := t.height; h > 0; h-- {
		i := atLeast(&nd.keys, nd.n, key)
		if i == nd.n {
			i = nd.n - 1
			nd.keys[i] = key // the new largest key goes into the last subtree
		}
		c := t.mut(nd.kids[i])
		nd.kids[i] = c
		if c.n == order {
			t.split(nd, i, h-1, splitPoint(c, key))
			if key > nd.keys[i] {
				i++
			}
			c = nd.kids[i]
		}
		nd = c
	}
	i := atLeast(&nd.keys, nd.n, key)
	if i < nd.n && nd.keys[i] == key {
		nd.vals[i] = v
		return true
	}
	copy(nd.keys[i+1:nd.n+1], nd.keys[i:nd.n])
	copy(nd.vals[i+1:nd.n+1], nd.vals[i:nd.n])
	nd.keys[i], nd.vals[i] = key, v
	nd.n++
	t.n++
	return false
}

// splitPoint returns how many entries of the full node c the left half
// keeps when key goes in: half, except at an edge. Address spaces grow at
// an end (mmap places top-down, a loader bottom-up), so a key beyond c's
// last or before its first leaves c full and starts the new node with one
// entry, instead of leaving a trail of half-empty nodes.
func splitPoint[V any](c *node[V], key uint64) int {
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
func (t *Tree[V]) split(p *node[V], i, h, half int) {
	c := p.kids[i]
	r := t.newNode()
	r.n = c.n - half
	copy(r.keys[:], c.keys[half:c.n])
	if h == 0 {
		copy(r.vals[:], c.vals[half:c.n])
		clear(c.vals[half:c.n])
	} else {
		copy(r.kids[:], c.kids[half:c.n])
		clear(c.kids[half:c.n])
	}
	c.n = half
	copy(p.keys[i+2:p.n+1], p.keys[i+1:p.n])
	copy(p.kids[i+2:p.n+1], p.kids[i+1:p.n])
	p.keys[i+1], p.kids[i+1] = p.keys[i], r
	p.keys[i] = c.keys[c.n-1]
	p.n++
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
		nd = nd.kids[i]
	}
}

// Delete removes the entry under key and reports whether there was one.
func (t *Tree[V]) Delete(key uint64) bool {
	if !t.has(key) {
		return false
	}
	t.dirty = true
	var path [maxDepth]struct {
		nd *node[V]
		i  int
	}
	nd := t.mut(t.root)
	t.root = nd
	depth := 0
	for h := t.height; h > 0; h-- {
		i := atLeast(&nd.keys, nd.n, key)
		c := t.mut(nd.kids[i])
		nd.kids[i] = c
		if c.n <= minFill && nd.n > 1 {
			i = t.fill(nd, i, h-1)
			c = nd.kids[i]
		}
		path[depth].nd, path[depth].i = nd, i
		depth++
		nd = c
	}
	i := atLeast(&nd.keys, nd.n, key)
	copy(nd.keys[i:nd.n-1], nd.keys[i+1:nd.n])
	copy(nd.vals[i:nd.n-1], nd.vals[i+1:nd.n])
	nd.n--
	var zero V
	nd.vals[nd.n], nd.keys[nd.n] = zero, 0
	t.n--
	// The largest key under each node of the path may have gone down.
	for d := depth - 1; d >= 0 && nd.n > 0; d-- {
		p := path[d]
		p.nd.keys[p.i] = nd.keys[nd.n-1]
		nd = p.nd
	}
	for t.height > 0 && t.root.n == 1 {
		t.root = t.root.kids[0]
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
func (t *Tree[V]) fill(p *node[V], i, h int) int {
	c := p.kids[i]
	if i > 0 && p.kids[i-1].n > minFill {
		l := t.mut(p.kids[i-1])
		p.kids[i-1] = l
		l.n--
		shiftIn(c, 0, l.keys[l.n], l.kids[l.n], l.vals[l.n], h)
		clearSlot(l, l.n)
		p.keys[i-1] = l.keys[l.n-1]
		return i
	}
	if i < p.n-1 && p.kids[i+1].n > minFill {
		r := t.mut(p.kids[i+1])
		p.kids[i+1] = r
		shiftIn(c, c.n, r.keys[0], r.kids[0], r.vals[0], h)
		takeOut(r, 0)
		p.keys[i] = c.keys[c.n-1]
		return i
	}
	if i > 0 {
		l := t.mut(p.kids[i-1])
		p.kids[i-1] = l
		merge(l, c)
		p.keys[i-1] = p.keys[i]
		takeOut(p, i)
		return i - 1
	}
	r := p.kids[i+1] // merged into c and dropped: read, never written
	merge(c, r)
	p.keys[i] = p.keys[i+1]
	takeOut(p, i+1)
	return i
}

// shiftIn inserts one entry (a key with its child or value) at index i.
func shiftIn[V any](nd *node[V], i int, key uint64, kid *node[V], v V, h int) {
	copy(nd.keys[i+1:nd.n+1], nd.keys[i:nd.n])
	nd.keys[i] = key
	if h == 0 {
		copy(nd.vals[i+1:nd.n+1], nd.vals[i:nd.n])
		nd.vals[i] = v
	} else {
		copy(nd.kids[i+1:nd.n+1], nd.kids[i:nd.n])
		nd.kids[i] = kid
	}
	nd.n++
}

// takeOut removes the entry at index i.
func takeOut[V any](nd *node[V], i int) {
	copy(nd.keys[i:nd.n-1], nd.keys[i+1:nd.n])
	copy(nd.kids[i:nd.n-1], nd.kids[i+1:nd.n])
	copy(nd.vals[i:nd.n-1], nd.vals[i+1:nd.n])
	nd.n--
	clearSlot(nd, nd.n)
}

// clearSlot forgets what slot i held, so that it keeps nothing alive.
func clearSlot[V any](nd *node[V], i int) {
	var zero V
	nd.keys[i], nd.kids[i], nd.vals[i] = 0, nil, zero
}

// merge appends r's entries to l.
func merge[V any](l, r *node[V]) {
	copy(l.keys[l.n:], r.keys[:r.n])
	copy(l.kids[l.n:], r.kids[:r.n])
	copy(l.vals[l.n:], r.vals[:r.n])
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
	var path [maxDepth]struct {
		nd *node[V]
		i  int
	}
	nd := t.mut(t.root)
	t.root = nd
	depth := 0
	for h := t.height; h > 0; h-- {
		i := atLeast(&nd.keys, nd.n, old)
		c := t.mut(nd.kids[i])
		nd.kids[i] = c
		path[depth].nd, path[depth].i = nd, i
		depth++
		nd = c
	}
	i := atLeast(&nd.keys, nd.n, old)
	if i > 0 && nd.keys[i-1] >= key || i < nd.n-1 && nd.keys[i+1] <= key {
		panic("vmatree: Rekey would reorder the entries")
	}
	nd.keys[i] = key
	for d := depth - 1; d >= 0; d-- {
		p := path[d]
		p.nd.keys[p.i] = nd.keys[nd.n-1]
		nd = p.nd
	}
	return true
}
