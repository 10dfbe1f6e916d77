package memory

import (
	"errors"
	"sync"

	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

// Shmem is shared anonymous memory: an unnamed in-memory object whose pages
// every mapping shares, across fork too (shmem_zero_setup). Its pages live
// in its own cache, which holds one reference to each.
type Shmem struct {
	alloc *phys.Allocator
	pages uint64 // size in pages

	mu    sync.Mutex // guards cache and users
	cache map[uint64]*phys.Page
	users int // VMAs referring to the object
}

// NewShmem returns an object of size bytes, with no user yet: each VMA
// mapping it opens it.
func NewShmem(alloc *phys.Allocator, size uint64) *Shmem {
	return &Shmem{alloc: alloc, pages: (size + alloc.PageSize() - 1) >> alloc.PageShift(), cache: map[uint64]*phys.Page{}}
}

// Name implements mm.VMOperations.
func (s *Shmem) Name() string { return "shmem" }

// Open implements mm.VMOperations.
func (s *Shmem) Open(*mm.VMA) {
	s.mu.Lock()
	s.users++
	s.mu.Unlock()
}

// Close implements mm.VMOperations: the last user frees the pages.
func (s *Shmem) Close(*mm.VMA) {
	s.mu.Lock()
	s.users--
	var drop []*phys.Page
	if s.users == 0 {
		for k, p := range s.cache {
			drop = append(drop, p)
			delete(s.cache, k)
		}
	}
	s.mu.Unlock()
	for _, p := range drop {
		p.Put()
	}
}

// Fault implements Backing (shmem_fault): the cached page, or a new zeroed
// one; beyond the object's size, SIGBUS. A VMA registered with userfaultfd
// reports a missing page (MISSING) or a cached one (MINOR) instead.
func (s *Shmem) Fault(f *Fault) vmfault.Reason {
	if f.PgOff >= s.pages {
		f.tr.Step("shmem_fault", "beyond the object: VM_FAULT_SIGBUS")
		return vmfault.SigBus
	}
	s.mu.Lock()
	p := s.cache[f.PgOff]
	if f.tr.On() {
		if p == nil {
			f.tr.Step("shmem_fault", "no page yet: a new zeroed one")
		} else {
			f.tr.Step("shmem_fault", "the page is in the shmem cache")
		}
	}
	switch {
	case p == nil && f.VMA.Flags&mm.VMUffdMiss != 0:
		s.mu.Unlock()
		return handleUserfault(f, mm.VMUffdMiss)
	case p != nil && f.VMA.Flags&mm.VMUffdMinor != 0:
		s.mu.Unlock()
		return handleUserfault(f, mm.VMUffdMinor)
	}
	if p == nil {
		// Allocate without s.mu: charging may OOM-kill a process whose
		// exit closes this very object.
		s.mu.Unlock()
		fresh := allocPage(f.Task, s.alloc, phys.FlagShmem)
		if fresh == nil {
			return vmfault.OOM
		}
		s.mu.Lock()
		if p = s.cache[f.PgOff]; p == nil {
			p = fresh
			s.cache[f.PgOff] = p
		} else {
			defer fresh.Put() // a racing fault got there first
		}
	}
	defer s.mu.Unlock()
	if p.Has(phys.FlagHWPoison) {
		return vmfault.HWPoison
	}
	p.Get()
	f.Page = p
	return 0
}

// insert adds a new page of fill at pgoff, mapped by the caller, whose
// reference it returns (UFFDIO_COPY into shmem); it fails if the object
// already holds the page.
func (s *Shmem) insert(pgoff uint64, fill byte, t Faulter) (*phys.Page, error) {
	s.mu.Lock()
	busy := s.cache[pgoff] != nil || pgoff >= s.pages
	s.mu.Unlock()
	if busy {
		return nil, errExists
	}
	p := allocPage(t, s.alloc, phys.FlagShmem) // without s.mu, as in Fault
	if p == nil {
		return nil, errNoMemory
	}
	p.Fill(fill)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache[pgoff] != nil {
		p.Put()
		return nil, errExists
	}
	s.cache[pgoff] = p
	p.Get()
	return p, nil
}

var (
	errExists   = errors.New("page already present")
	errNoMemory = errors.New("out of memory")
)

// CachedPage returns, with a reference, the page at pgoff if the object
// holds it: what fault-around may map (shmem's ->map_pages is
// filemap_map_pages).
func (s *Shmem) CachedPage(pgoff uint64, _ Faulter) *phys.Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cache[pgoff]
	if p == nil || p.Has(phys.FlagHWPoison) {
		return nil
	}
	p.Get()
	return p
}

// CachedPages returns how many pages the object holds.
func (s *Shmem) CachedPages() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cache)
}
