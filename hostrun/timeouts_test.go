//go:build linux

package hostrun

import (
	"testing"
	"time"

	"github.com/faultline/faultline/timeout"
)

// TestUserfaultLoopScales: the CPU time that makes a re-fault loop grows
// with the timeout scale, so a slow CPU's progressing copy is not taken
// for one.
func TestUserfaultLoopScales(t *testing.T) {
	const sig = 1 << 9
	for _, c := range []struct {
		scale timeout.Scale
		spent time.Duration
		want  bool
	}{
		{1, loopCPU, true},
		{1, loopCPU - 1, false},
		{10, loopCPU, false},
		{10, 10*loopCPU - 1, false},
		{10, 10 * loopCPU, true},
		{2.5, 125 * time.Millisecond, true},
		{2.5, 124 * time.Millisecond, false},
	} {
		l := newUserfaultLoop(c.scale)
		readings := []loopState{{runtime: 5, haveRuntime: true, pending: sig}, {runtime: 5 + uint64(c.spent), haveRuntime: true, pending: sig}}
		got := false
		for _, r := range readings {
			got = l.take(func() (loopState, bool) { return r, true })
		}
		if got != c.want {
			t.Errorf("scale %v, %v run: looping %v, want %v", c.scale, c.spent, got, c.want)
		}
	}
}
