package machine_test

import (
	"testing"

	"github.com/faultline/faultline/machine"
)

// TestFaultsDoNotAllocate: a steady-state fault allocates nothing, on
// every machine, with either handler, for each kind of fault: an
// anonymous write (a new page), an anonymous read (the zero page), a
// copy on write after fork, and a read of a cached file page
// (fault-around). An allocation count is deterministic, not a timing.
func TestFaultsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's runtime allocates shadow state on the way")
	}
	for _, arch := range machine.Arches() {
		for _, h := range machine.Handlers() {
			for _, kind := range faultKinds {
				t.Run(arch+"/"+h.String()+"/"+kind.name, func(t *testing.T) {
					pages := uint64(256)
					if kind.name == "file-read" {
						pages = 16 * 130
					}
					f := newFaultRing(t, arch, h, kind, pages)
					f.round(t)
					runs := int(min(f.faults-1, 200)) // AllocsPerRun calls once more to warm up
					n := testing.AllocsPerRun(runs, func() { f.fault(t) })
					f.check(t)
					if n != 0 {
						t.Errorf("%v allocations per fault", n)
					}
				})
			}
		}
	}
}
