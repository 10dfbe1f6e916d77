package mm

import (
	"fmt"

	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
)

// MapCounts adds, for every frame the address space maps, the number of
// entries mapping it to counts (the zero page excluded). Preconditions:
// nothing changes the address space meanwhile.
func (m *MM) MapCounts(counts map[*phys.Page]int) {
	m.PT.Range(0, m.arch.TaskSize(), func(_ uint64, t *pgtable.Table, i int) bool {
		pte := t.Load(i)
		if pte.Mapped() && !pte.Has(pgtable.Special) {
			if p := m.phys.Lookup(pte.PFN()); p != nil {
				counts[p]++
			}
		}
		return true
	})
}

// RSS returns the pages the address space maps, the zero page excepted
// (get_mm_rss), counting a huge page as its frames. It scans the page
// tables: the kernel keeps counters.
func (m *MM) RSS() int64 {
	var n int64
	m.PT.Range(0, m.arch.TaskSize(), func(_ uint64, t *pgtable.Table, i int) bool {
		if pte := t.Load(i); pte.Mapped() && !pte.Has(pgtable.Special) {
			if t.Level() == 2 {
				n += int64(t.Len())
			} else {
				n++
			}
		}
		return true
	})
	return n
}

// CheckVMAs verifies the VMA index: VMAs are page-aligned, non-empty,
// ordered and disjoint, none is detached, the index's shape is sound and
// its count right, and only a VMA with an anon_vma has a fork-made anon_vma
// chain. Preconditions: the mmap lock is held or nothing runs.
func (m *MM) CheckVMAs() error {
	var prev *VMA
	n := 0
	var err error
	m.VMAs(func(v *VMA) bool {
		n++
		switch {
		case v.Start&^m.pageMask() != 0 || v.End&^m.pageMask() != 0 || v.Start >= v.End:
			err = fmt.Errorf("VMA [%#x,%#x) is malformed", v.Start, v.End)
		case prev != nil && prev.End > v.Start:
			err = fmt.Errorf("VMAs [%#x,%#x) and [%#x,%#x) overlap", prev.Start, prev.End, v.Start, v.End)
		case v.Detached():
			err = fmt.Errorf("VMA [%#x,%#x) is in the index but detached", v.Start, v.End)
		case v.mm != m:
			err = fmt.Errorf("VMA [%#x,%#x) belongs to another mm", v.Start, v.End)
		case v.anonForked && v.anonVMA.Load() == nil:
			err = fmt.Errorf("VMA [%#x,%#x) has a forked anon_vma chain but no anon_vma", v.Start, v.End)
		}
		prev = v
		return err == nil
	})
	if err != nil {
		return err
	}
	if got := m.tree.Len(); got != n {
		return fmt.Errorf("the index counts %d VMAs, holds %d", got, n)
	}
	return m.tree.Check()
}
