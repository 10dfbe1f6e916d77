package memory

// pageTree is a file's page-cache index (the xarray of its
// address_space): a radix tree of 64-slot nodes keyed by page index, as
// tall as the largest index in it needs. A lookup walks a level per six
// bits of the index, with no hashing, and a walk visits the pages in
// index order, as the kernel's xa_for_each does.
type pageTree struct {
	root   *treeNode
	height int // levels of nodes; a tree of height h holds indexes below 64^h
	n      int // pages in the tree
	// spare lists the nodes left empty, linked through spare, for the
	// next ones needed (the last level's apart, as they
	// have their pages' slots): a cache read through a small memory
	// limit empties and refills a node every 64 pages.
	spare, spareLast *treeNode
}

const (
	treeShift = 6
	treeSlots = 1 << treeShift
	treeMask  = treeSlots - 1
)

// treeNode is one node: below the last level its slots hold nodes, at
// the last level pages.
type treeNode struct {
	kids  [treeSlots]*treeNode
	pages *[treeSlots]*cachePage // the last level's slots
	used  int                    // slots that are not nil
	spare *treeNode              // the next spare node, on its tree's list
}

// covers reports whether a tree of height h has a slot for idx.
func covers(h int, idx uint64) bool {
	return h*treeShift >= 64 || idx>>(uint(h)*treeShift) == 0
}

// get returns the page at idx, nil if there is none (xa_load).
func (t *pageTree) get(idx uint64) *cachePage {
	if !covers(t.height, idx) {
		return nil
	}
	n := t.root
	for h := t.height - 1; n != nil; h-- {
		slot := idx >> (uint(h) * treeShift) & treeMask
		if h == 0 {
			return n.pages[slot]
		}
		n = n.kids[slot]
	}
	return nil
}

// set stores c, not nil, at idx, where there is no page (xa_store).
func (t *pageTree) set(idx uint64, c *cachePage) {
	for !covers(t.height, idx) || t.root == nil {
		if t.root == nil {
			t.height = 0
			for !covers(t.height, idx) {
				t.height++
			}
			t.height = max(t.height, 1)
			t.root = t.newNode(t.height == 1)
			break
		}
		// A level on top: the old root is the new one's first child.
		r := t.newNode(false)
		r.kids[0], r.used = t.root, 1
		t.root = r
		t.height++
	}
	n := t.root
	for h := t.height - 1; ; h-- {
		slot := idx >> (uint(h) * treeShift) & treeMask
		if h == 0 {
			if n.pages[slot] == nil {
				n.used++
				t.n++
			}
			n.pages[slot] = c
			return
		}
		if n.kids[slot] == nil {
			n.kids[slot] = t.newNode(h == 1)
			n.used++
		}
		n = n.kids[slot]
	}
}

// newNode returns an empty node, of the last level if last, a spare one
// if there is.
func (t *pageTree) newNode(last bool) *treeNode {
	list := &t.spare
	if last {
		list = &t.spareLast
	}
	if n := *list; n != nil {
		*list, n.spare = n.spare, nil
		return n
	}
	n := &treeNode{}
	if last {
		n.pages = new([treeSlots]*cachePage)
	}
	return n
}

// freeNode keeps n, empty, for newNode.
func (t *pageTree) freeNode(n *treeNode) {
	list := &t.spare
	if n.pages != nil {
		list = &t.spareLast
	}
	n.spare, *list = *list, n
}

// del removes the page at idx, if any (xa_erase); nodes left empty go.
func (t *pageTree) del(idx uint64) {
	if !covers(t.height, idx) || t.root == nil {
		return
	}
	if t.root.del(t, idx, t.height-1) {
		t.n--
	}
	if t.root.used == 0 {
		t.freeNode(t.root)
		t.root, t.height = nil, 0
	}
}

// del removes idx from the subtree n heads at level h, reporting whether
// there was a page; a child left empty is unlinked and kept as t's spare.
func (n *treeNode) del(t *pageTree, idx uint64, h int) bool {
	slot := idx >> (uint(h) * treeShift) & treeMask
	if h == 0 {
		if n.pages[slot] == nil {
			return false
		}
		n.pages[slot] = nil
		n.used--
		return true
	}
	k := n.kids[slot]
	if k == nil || !k.del(t, idx, h-1) {
		return false
	}
	if k.used == 0 {
		n.kids[slot] = nil
		n.used--
		t.freeNode(k)
	}
	return true
}

// len returns the number of pages in the tree.
func (t *pageTree) len() int { return t.n }

// each calls fn for every page from index from on, in index order, until
// fn returns false. fn may delete the page it is given (and only that
// one) from the tree.
func (t *pageTree) each(from uint64, fn func(idx uint64, c *cachePage) bool) {
	if t.root != nil && covers(t.height, from) {
		t.root.each(t.height-1, 0, from, fn)
	}
}

// each walks the subtree n heads at level h, whose first index is base.
func (n *treeNode) each(h int, base, from uint64, fn func(uint64, *cachePage) bool) bool {
	shift := uint(h) * treeShift
	first := uint64(0)
	if from > base {
		first = (from - base) >> shift
	}
	for slot := first; slot < treeSlots; slot++ {
		idx := base + slot<<shift
		if h == 0 {
			if c := n.pages[slot]; c != nil && !fn(idx, c) {
				return false
			}
			continue
		}
		if k := n.kids[slot]; k != nil && !k.each(h-1, idx, from, fn) {
			return false
		}
	}
	return true
}
