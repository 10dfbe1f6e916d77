package phys

import "sync"

// An allocator's own memory is 32 KiB of directory and 128 KiB per chunk
// of page structs, whatever few frames its machine uses: made afresh for
// every scenario run, it was most of what a run of the corpus asked the
// Go heap for (and so most of its garbage collections). An allocator
// whose machine has ended gives that memory to the allocators made after
// it (Release), zeroed as new memory is, and the contents of its frames
// to their frames (contentPool).
var (
	allocatorPool sync.Pool // *Allocator, all zero
	chunkPool     sync.Pool // *chunk, all zero
)

// newAllocatorStruct returns a zero Allocator, a released one if there is.
func newAllocatorStruct() *Allocator {
	if a, _ := allocatorPool.Get().(*Allocator); a != nil {
		return a
	}
	return &Allocator{}
}

// newChunk returns a zero chunk of a's, a released one if there is.
func newChunk(a *Allocator) *chunk {
	c, _ := chunkPool.Get().(*chunk)
	if c == nil {
		c = &chunk{}
	}
	c.alloc = a
	return c
}

// Release ends the allocator, when its machine's run is over: every frame
// is free (Stats().InUse == 0) and nothing will use the allocator, or any
// page, cache or memory cgroup of it, again. Its page structs and its
// frames' contents go to the allocators made later. It reports false,
// and releases nothing, when a frame is still in use.
func (a *Allocator) Release() bool {
	if a.Stats().InUse != 0 {
		return false
	}
	n := a.nframes.Load()
	for d := range (n + chunkFrames - 1) / chunkFrames {
		c := a.dir[d].Load()
		used := min(n-d*chunkFrames, chunkFrames)
		for i := range c.pages[:used] {
			p := &c.pages[i]
			dropData(loadData(p))
			*p = Page{}
		}
		c.alloc = nil
		chunkPool.Put(c)
	}
	*a = Allocator{}
	allocatorPool.Put(a)
	return true
}
