package bench

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
)

// TestModelFaultCounts checks that every workload takes exactly the faults
// it was asked for on the model, counted by the tasks' fault counters, on
// every modeled arch and handler, with ops that do not fill a chunk, fill
// one, and spill into a second.
func TestModelFaultCounts(t *testing.T) {
	for _, arch := range machine.Arches() {
		for _, h := range machine.Handlers() {
			m := Model{Arch: arch, Handler: h, Config: config.Default()}
			for _, w := range Workloads(3) {
				for _, ops := range []uint64{5, ChunkPages / FaultAroundPages, ChunkPages + 7} {
					if testing.Short() && ops > ChunkPages {
						continue
					}
					s, err := m.Run(w, ops)
					if err != nil {
						t.Fatalf("%s/%s %s ops=%d: %v", arch, h, w.Name, ops, err)
					}
					if s.Faults != ops || s.Ops != ops {
						t.Errorf("%s/%s %s: ops %d, faults %d, want %d", arch, h, w.Name, s.Ops, s.Faults, ops)
					}
					if s.Elapsed <= 0 {
						t.Errorf("%s/%s %s: no time measured", arch, h, w.Name)
					}
				}
			}
		}
	}
}
