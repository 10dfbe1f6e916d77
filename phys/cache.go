package phys

import "sync"

// Cache sizes, as the kernel's pcp->batch and pcp->high: a cache refills
// and drains cacheBatch frames at a time under the zone lock, and holds
// at most cacheHigh free frames.
const (
	cacheBatch = 32
	cacheHigh  = 6 * cacheBatch
)

// Cache is a task's cache of free frames (struct per_cpu_pages): the
// model's stand-in for a CPU is a task, which runs on one goroutine at a
// time. Allocating takes the cache's own lock, which only its task and
// whoever frees a frame it handed out contend for (pcp->lock), and the
// zone lock once per cacheBatch frames. Frames in a cache are free, not
// in use. A cache whose task exited is closed: it is drained, and the
// frames it handed out go back to the zone when they are freed.
type Cache struct {
	a  *Allocator
	id uint32 // the index frames keep in their owner to find the cache

	mu   sync.Mutex // guards everything below
	dead bool       // closed: everything goes to the zone
	// allocs and frees are the cache's shard of the allocator's counters
	// (what it handed out and got back); delta is the net count not yet
	// folded into the zone's count in use.
	allocs, frees, delta int64
	n                    int
	frames               [cacheHigh]*Page
}

// NewCache returns a new, empty cache of a's frames.
func (a *Allocator) NewCache() *Cache {
	c := &Cache{a: a}
	a.mu.Lock()
	tab := *a.cacheTab.Load()
	if n := len(a.freeIDs); n > 0 {
		c.id = a.freeIDs[n-1]
		a.freeIDs = a.freeIDs[:n-1]
	} else if len(tab) <= memcgMask {
		c.id = uint32(len(tab))
		tab = append(tab, nil)
	}
	if c.id != 0 {
		tab = append([]*Cache(nil), tab...)
		tab[c.id] = c
		a.cacheTab.Store(&tab)
		a.caches = append(a.caches[:len(a.caches):len(a.caches)], c)
		a.cacheGen++
	} else {
		c.dead = true // out of indexes: a cache that passes everything to the zone
	}
	a.mu.Unlock()
	return c
}

// Allocator returns the allocator the cache draws from.
func (c *Cache) Allocator() *Allocator { return c.a }

// Alloc returns a zeroed frame holding one reference, with flags f, from
// the cache, refilling it from the zone when it is empty
// (rmqueue_pcplist). While a limit is set it takes the zone's exact path.
func (c *Cache) Alloc(f PageFlags) (*Page, error) {
	a := c.a
	c.mu.Lock()
	// One test of three fields on the way to a frame; the cases behind
	// it are rare: an empty cache (one fault in cacheBatch), a closed one
	// and a limit (exact is read under the lock, which SetLimit's drain
	// takes after setting it).
	if c.n == 0 || c.dead || a.exact.Load() {
		if c.dead || a.exact.Load() || !c.refillLocked() {
			c.mu.Unlock()
			return a.Alloc(f) // the zone says why there is none
		}
	}
	c.n--
	p := c.frames[c.n]
	c.allocs++
	if c.delta++; c.delta >= cacheBatch {
		a.mu.Lock()
		c.foldLocked()
		a.mu.Unlock()
	}
	c.mu.Unlock()
	p.prep(f, c.id, a.sizeBits)
	return p, nil
}

// put takes back a freed frame it handed out (free_unref_page), draining
// a batch to the zone when it holds too many. It reports false when the
// frame must go to the zone instead. The caller has reset the frame.
func (c *Cache) put(p *Page) bool {
	a := c.a
	c.mu.Lock()
	if c.dead || a.exact.Load() {
		c.mu.Unlock()
		return false
	}
	c.frames[c.n] = p
	c.n++
	c.frees++
	c.delta--
	if c.n == cacheHigh || c.delta <= -cacheBatch {
		a.mu.Lock()
		if c.n == cacheHigh {
			c.n -= cacheBatch
			a.freeList = append(a.freeList, c.frames[c.n:c.n+cacheBatch]...)
			clear(c.frames[c.n : c.n+cacheBatch])
		}
		c.foldLocked()
		a.mu.Unlock()
	}
	c.mu.Unlock()
	return true
}

// refillLocked takes a batch of free frames from the zone; false when it
// has none. Preconditions: c.mu, c.n == 0.
func (c *Cache) refillLocked() bool {
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limit > 0 {
		return false // a limit came while the lock was free: the exact path
	}
	for c.n < cacheBatch {
		p := a.takeLocked()
		if p == nil {
			break
		}
		c.frames[c.n] = p
		c.n++
	}
	c.foldLocked()
	return c.n > 0
}

// foldLocked adds the cache's net count to the zone's count in use (and
// so to its peak). Preconditions: c.mu and a.mu.
func (c *Cache) foldLocked() {
	c.a.countLocked(c.delta)
	c.delta = 0
}

// drainLocked gives every free frame and the counts back to the zone.
// Preconditions: c.mu and a.mu.
func (c *Cache) drainLocked() {
	a := c.a
	c.foldLocked()
	a.freeList = append(a.freeList, c.frames[:c.n]...)
	clear(c.frames[:c.n])
	c.n = 0
	a.stats.Allocs += c.allocs
	a.stats.Frees += c.frees
	c.allocs, c.frees = 0, 0
}

// Close drains the cache for good, when its task exits (drain_pages for
// a CPU going offline). Frames it handed out return to the zone when
// they are freed; the cache passes allocations to the zone from now on.
func (c *Cache) Close() {
	a := c.a
	c.mu.Lock()
	a.mu.Lock()
	if !c.dead {
		c.drainLocked()
		c.dead = true
		tab := append([]*Cache(nil), *a.cacheTab.Load()...)
		tab[c.id] = nil
		a.cacheTab.Store(&tab)
		a.freeIDs = append(a.freeIDs, c.id)
		caches := make([]*Cache, 0, len(a.caches))
		for _, o := range a.caches {
			if o != c {
				caches = append(caches, o)
			}
		}
		a.caches = caches
		a.cacheGen++
	}
	a.mu.Unlock()
	c.mu.Unlock()
}

// drainAll drains every cache (drain_all_pages), for the exact path.
func (a *Allocator) drainAll() {
	a.mu.Lock()
	caches := a.caches
	a.mu.Unlock()
	for _, c := range caches {
		c.mu.Lock()
		a.mu.Lock()
		if !c.dead {
			c.drainLocked()
		}
		a.mu.Unlock()
		c.mu.Unlock()
	}
}
