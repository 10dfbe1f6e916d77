package phys

import (
	"sync"

	"github.com/faultline/faultline/sched"
)

// SwapDevice is swap space: slots holding the contents of pages written
// out, each counted by the swap entries that refer to it (swap_map), and
// the swap cache of pages being read back. A read completes when Run is
// called (the faulting task calls it before it sleeps), so that a swap-in
// waits for I/O as it does on a disk.
type SwapDevice struct {
	mu     sync.Mutex // guards everything below
	nslots uint64
	next   uint64
	free   []uint64
	data   map[uint64][]byte
	count  map[uint64]int
	cache  map[uint64]*SwapCached
	reads  []*SwapCached
}

// SwapCached is a page of the swap cache.
type SwapCached struct {
	Page   *Page
	Locked bool         // being read
	Unlock *sched.Event // fires when the read completes
	slot   uint64
}

// NewSwapDevice returns swap space of size bytes in slots of pageSize
// bytes (a swap slot holds one base page).
func NewSwapDevice(size, pageSize uint64) *SwapDevice {
	return &SwapDevice{nslots: size / pageSize, data: map[uint64][]byte{},
		count: map[uint64]int{}, cache: map[uint64]*SwapCached{}}
}

// SetSwap attaches a swap device to the allocator's machine.
func (a *Allocator) SetSwap(s *SwapDevice) { a.swap = s }

// Swap returns the machine's swap device, or nil when it has none.
func (a *Allocator) Swap() *SwapDevice { return a.swap }

// WriteOut stores a copy of data in a free slot, with no reference yet
// (get_swap_page, swap_writepage); false when swap is full.
func (s *SwapDevice) WriteOut(data []byte) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var slot uint64
	switch {
	case len(s.free) > 0:
		slot = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case s.next < s.nslots:
		slot = s.next
		s.next++
	default:
		return 0, false
	}
	s.data[slot] = append([]byte(nil), data...)
	s.count[slot] = 0
	return slot, true
}

// Dup counts one more entry referring to slot (swap_duplicate).
func (s *SwapDevice) Dup(slot uint64) {
	s.mu.Lock()
	s.count[slot]++
	s.mu.Unlock()
}

// Count returns the entries referring to slot.
func (s *SwapDevice) Count(slot uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[slot]
}

// Free drops one entry's reference to slot (swap_free); the last one
// frees the slot and its swap-cache page.
func (s *SwapDevice) Free(slot uint64) {
	s.mu.Lock()
	s.count[slot]--
	if s.count[slot] > 0 {
		s.mu.Unlock()
		return
	}
	delete(s.count, slot)
	delete(s.data, slot)
	c := s.cache[slot]
	delete(s.cache, slot)
	s.free = append(s.free, slot)
	s.mu.Unlock()
	if c != nil {
		c.Page.Put() // the swap cache's reference
	}
}

// Used returns the slots in use.
func (s *SwapDevice) Used() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

// Lookup returns slot's swap-cache page, or nil.
func (s *SwapDevice) Lookup(slot uint64) *SwapCached {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache[slot]
}

// ReadIn starts reading slot into page, which the swap cache then holds
// (with the caller's reference), locked until Run completes the read
// (swap_read_folio). If the cache got a page meanwhile, that one is
// returned and page is not used.
func (s *SwapDevice) ReadIn(slot uint64, page *Page) (*SwapCached, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cache[slot]; c != nil {
		return c, false
	}
	c := &SwapCached{Page: page, Locked: true, Unlock: sched.NewEvent(), slot: slot}
	s.cache[slot] = c
	s.reads = append(s.reads, c)
	return c, true
}

// Run completes the pending reads.
func (s *SwapDevice) Run() {
	s.mu.Lock()
	reads := s.reads
	s.reads = nil
	for _, c := range reads {
		if d := s.data[c.slot]; d != nil {
			copy(c.Page.Data(), d)
		}
		c.Locked = false
	}
	s.mu.Unlock()
	for _, c := range reads {
		c.Unlock.Fire()
	}
}

// Locked reports whether c is still being read.
func (s *SwapDevice) Locked(c *SwapCached) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.Locked
}
