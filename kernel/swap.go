package kernel

import (
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
)

// swapOut writes up to n anonymous pages charged to cg out to swap
// (shrink_folio_list on the anonymous LRU, pageout): each page's data goes
// to a slot, and every entry mapping it, in every address space, becomes a
// swap entry for that slot. Without swap space nothing is freed.
//
// The model keeps no reverse map: it finds the entries by scanning the
// page tables, under their locks only, as rmap walks take no mmap lock.
// Pages of mlocked VMAs are unevictable and stay.
func (k *Kernel) swapOut(cg *phys.MemCG, n int64) int64 {
	dev := k.phys.Swap()
	if dev == nil || n <= 0 {
		return 0
	}
	mms := k.liveMMs()
	// A page mapped by an mlocked VMA anywhere is unevictable; an mm too
	// busy to tell gives none of its pages.
	seen := map[*phys.Page]bool{}
	busy := map[*mm.MM]bool{}
	for _, m := range mms {
		if !m.MmapReadTryLock() {
			busy[m] = true
			continue
		}
		m.VMAs(func(v *mm.VMA) bool {
			if v.Flags&mm.VMLocked == 0 {
				return true
			}
			m.PT.Range(v.Start, v.End, func(_ uint64, t *pgtable.Table, i int) bool {
				if pte := t.Load(i); t.Level() == 1 && pte.Present() && !pte.Has(pgtable.Special) {
					if p := m.Phys().Lookup(pte.PFN()); p != nil {
						seen[p] = true
					}
				}
				return true
			})
			return true
		})
		m.MmapReadUnlock()
	}
	var victims []*phys.Page
	for _, m := range mms {
		if busy[m] {
			continue
		}
		m.PT.Range(0, k.arch.TaskSize(), func(_ uint64, t *pgtable.Table, i int) bool {
			pte := t.Load(i)
			if t.Level() != 1 || !pte.Present() || pte.Has(pgtable.Special) {
				return true
			}
			p := m.Phys().Lookup(pte.PFN())
			if p == nil || seen[p] || !p.Has(phys.FlagAnon) || p.Has(phys.FlagHWPoison) || p.MemCG() != cg {
				return true
			}
			seen[p] = true
			victims = append(victims, p)
			return int64(len(victims)) < n
		})
		if int64(len(victims)) >= n {
			break
		}
	}
	// Where each victim is mapped, found in one walk of every address
	// space for all of them (the rmap walk of each, done at once); each
	// entry is checked again under its table's lock when it is unmapped.
	type entry struct {
		t *pgtable.Table
		i int
	}
	where := make(map[phys.PFN][]entry, len(victims))
	for _, p := range victims {
		where[p.PFN()] = nil
	}
	for _, m := range mms {
		m.PT.Range(0, k.arch.TaskSize(), func(_ uint64, t *pgtable.Table, i int) bool {
			if t.Level() != 1 {
				return true
			}
			pte := t.Load(i)
			if !pte.Mapped() || pte.Has(pgtable.Special) {
				return true
			}
			if es, ok := where[pte.PFN()]; ok {
				where[pte.PFN()] = append(es, entry{t, i})
			}
			return true
		})
	}
	var freed int64
	for _, p := range victims {
		slot, ok := dev.WriteOut(p.Contents())
		if !ok {
			break // swap is full
		}
		unmapped := 0
		for _, e := range where[p.PFN()] {
			t, i := e.t, e.i
			t.Lock()
			pte := t.Load(i)
			if pte.Mapped() && !pte.Has(pgtable.Special) && pte.PFN() == p.PFN() {
				// try_to_unmap_one: a uffd-wp protection goes with the
				// entry and comes back at swap-in.
				t.Store(i, pgtable.MkSwap(0, slot)|pte&pgtable.UffdWP)
				dev.Dup(slot)
				unmapped++
				t.Unlock()
				p.RemoveMap()
				p.Put()
				continue
			}
			t.Unlock()
		}
		if unmapped == 0 {
			dev.Dup(slot) // nothing referred to it: let Free release the slot
			dev.Free(slot)
			continue
		}
		freed++
	}
	return freed
}
