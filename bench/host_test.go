package bench

import (
	"context"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// startHost starts the host side, or skips: off Linux, without a C
// compiler, or when the executor cannot start.
func startHost(t *testing.T) *Host {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("host runs need Linux")
	}
	if _, err := exec.LookPath("cc"); err != nil {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("no C compiler")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := StartHost(ctx)
	if err != nil {
		t.Fatalf("start the host side: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestHostFaultCounts runs each workload on the host kernel and checks
// the faults the executor counted (getrusage deltas of the faulting
// threads): one per op, for ops within a chunk and spilling into the
// next. A userfaultfd the user may not open skips that workload.
func TestHostFaultCounts(t *testing.T) {
	h := startHost(t)
	for _, w := range Workloads(2) {
		for _, ops := range []uint64{5, ChunkPages + 7} {
			s, err := h.Run(w, ops)
			if IsSkip(err) {
				t.Logf("%s: skipped: %v", w.Name, err)
				continue
			}
			if err != nil {
				t.Fatalf("%s ops=%d: %v", w.Name, ops, err)
			}
			if s.Ops != ops || s.Faults != ops {
				t.Errorf("%s: ops %d, faults %d, want %d", w.Name, s.Ops, s.Faults, ops)
			}
			if s.Elapsed <= 0 {
				t.Errorf("%s: no time measured", w.Name)
			}
		}
	}
}
