//go:build linux

package hostrun

import (
	"testing"

	"github.com/faultline/faultline/timeout"
)

// TestUserfaultLoopScales: the system time that makes a re-fault loop
// grows with the timeout scale, so a slow CPU's progressing copy is not
// taken for one.
func TestUserfaultLoopScales(t *testing.T) {
	const sig = 1 << 9
	for _, c := range []struct {
		scale timeout.Scale
		spent uint64
		want  bool
	}{
		{1, loopTicks, true},
		{1, loopTicks - 1, false},
		{10, loopTicks, false},
		{10, 10*loopTicks - 1, false},
		{10, 10 * loopTicks, true},
		{2.5, 50, true},
		{2.5, 49, false},
	} {
		l := newUserfaultLoop(c.scale)
		readings := []loopState{{stime: 5, pending: sig}, {stime: 5 + c.spent, pending: sig}}
		got := false
		for _, r := range readings {
			got = l.take(func() (loopState, bool) { return r, true })
		}
		if got != c.want {
			t.Errorf("scale %v, %d ticks: looping %v, want %v", c.scale, c.spent, got, c.want)
		}
	}
}
