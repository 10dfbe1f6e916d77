package phys

import (
	"sync"
	"unsafe"
)

// A frame whose contents are one value but for a few bytes written since
// it was made or filled (a page a touch wrote one byte of, its
// copy-on-write copy, its swapped-out image) keeps that value and those
// bytes, a patch of 32 bytes, rather than 4 KiB of its own: the model's
// economy, not the kernel's. A patch belongs to one frame and is written
// in place; a write it has no room for, or a use of the whole page
// (Data, Contents), gives the frame contents of its own.
//
// A frame's data pointer to its patch is tagged: it points one byte into
// the patch (inside it, so the garbage collector keeps it), where the
// contents of a frame of its own, or shared, are aligned.

// patchMax is how many bytes a patch holds.
const patchMax = 8

type patch struct {
	base byte // every byte not listed
	n    uint8
	off  [patchMax]uint16
	val  [patchMax]byte
}

// patchPool holds the patches of frames handed out again, and of
// allocators ended, for the next frames patched: a copy on write of a
// patched page takes one, and the fault path allocates nothing.
var patchPool = sync.Pool{New: func() any { return new(patch) }}

// newPatch returns a patch of base with no byte listed.
func newPatch(base byte) *patch {
	pt := patchPool.Get().(*patch)
	pt.base, pt.n = base, 0
	return pt
}

// dropData gives what a frame's data pointer d holds of its own, contents
// or a patch, back to its pool. Preconditions: nothing else can use it
// (the frame is being handed out again, or its allocator has ended).
func dropData(d unsafe.Pointer) {
	if o := own(d); o != nil {
		contentPool.Put(o)
	} else if pt := patchOf(d); pt != nil {
		patchPool.Put(pt)
	}
}

// tagPatch returns the data pointer of a frame patched by pt.
func tagPatch(pt *patch) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(pt), 1) }

// patchOf returns the patch a frame's data pointer d points to, nil when
// d is not a patch's (nil, a shared page, contents of the frame's own).
func patchOf(d unsafe.Pointer) *patch {
	if uintptr(d)&1 == 0 || shared(d) {
		return nil
	}
	return (*patch)(unsafe.Add(d, -1))
}

// get returns byte off.
func (pt *patch) get(off uint16) byte {
	for i := range pt.n {
		if pt.off[i] == off {
			return pt.val[i]
		}
	}
	return pt.base
}

// set writes v at byte off, in place; false when that needs a byte more
// than the patch holds.
func (pt *patch) set(off uint16, v byte) bool {
	for i := range pt.n {
		if pt.off[i] == off {
			pt.val[i] = v
			return true
		}
	}
	switch {
	case v == pt.base:
	case pt.n == patchMax:
		return false
	default:
		pt.off[pt.n], pt.val[pt.n] = off, v
		pt.n++
	}
	return true
}

// expand writes the whole page the patch stands for into d.
func (pt *patch) expand(d *[PageSize]byte) {
	if pt.base == 0 {
		clear(d[:])
	} else {
		FillBytes(d[:], pt.base)
	}
	for i := range pt.n {
		d[pt.off[i]] = pt.val[i]
	}
}

// own returns d as contents of a frame's own, nil when d is none of
// those (zeros, a shared fill, a patch).
func own(d unsafe.Pointer) *[PageSize]byte {
	if d == nil || uintptr(d)&1 != 0 || shared(d) {
		return nil
	}
	return (*[PageSize]byte)(d)
}

// expandInto writes the page a frame's data pointer d stands for into n:
// zeros, a shared fill, a patch or contents of its own.
func expandInto(n *[PageSize]byte, d unsafe.Pointer) {
	switch {
	case d == nil:
		clear(n[:])
	case shared(d):
		*n = *(*[PageSize]byte)(d)
	case uintptr(d)&1 != 0:
		patchOf(d).expand(n)
	default:
		*n = *(*[PageSize]byte)(d)
	}
}

// Load returns byte off of the frame, making no copy of its contents.
func (p *Page) Load(off uint64) byte {
	d := loadData(p)
	off &= PageSize - 1
	if d == nil {
		return 0
	}
	if pt := patchOf(d); pt != nil {
		return pt.get(uint16(off))
	}
	return (*[PageSize]byte)(d)[off]
}

// patchHeapSize is what a patch takes of the Go heap: its size class.
const patchHeapSize = 32

var _ [patchHeapSize - unsafe.Sizeof(patch{})]byte // a patch fits its size class

// ContentBytes returns the Go heap the contents of a's frames take: 4 KiB
// for a frame with contents of its own, a patch for a patched one,
// nothing for zeros or a shared fill. It reads every frame without a
// lock; it is for measurements, on a machine at rest.
func (a *Allocator) ContentBytes() int64 {
	var n int64
	for pfn := PFN(1); pfn < PFN(a.nframes.Load()); pfn++ {
		switch d := loadData(a.Lookup(pfn)); {
		case own(d) != nil:
			n += PageSize
		case patchOf(d) != nil:
			n += patchHeapSize
		}
	}
	return n
}
