//go:build linux

package hostrun

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/faultline/faultline/runner"
)

// TestAheadStartsTheNextExecutor: with Ahead, a run leaves the next run's
// executor started; the next run uses it (and tears it down as its own),
// and closing the spare stops its processes.
func TestAheadStartsTheNextExecutor(t *testing.T) {
	h := detect(t)
	h.Ahead = true
	t.Cleanup(func() { h.Ahead = false; h.closeSpare() })
	src := "scenario ahead\nmmap A 1p rw private anon\nwrite A 7\nread A => ok 7\n"
	alive := func(pid int) bool { _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); return err == nil }
	var pids []int
	for i := range 2 {
		if rep := h.Run(context.Background(), parse(t, src), Options{}); rep.Status != runner.Pass {
			t.Fatalf("run %d: status %v %s, failures %+v", i, rep.Status, rep.Reason, rep.Failures)
		}
		sp := h.ahead.spare
		if sp == nil {
			t.Fatalf("run %d left no executor started for the next", i)
		}
		<-sp.ready
		if sp.err != nil {
			t.Fatalf("run %d: the spare's start failed: %v", i, sp.err)
		}
		pids = append(pids, sp.main.PID)
	}
	if pids[0] == pids[1] || alive(pids[0]) {
		t.Errorf("the second run did not use and end the first spare (main %d, then %d, the first alive %v)", pids[0], pids[1], alive(pids[0]))
	}
	h.closeSpare()
	if alive(pids[1]) || h.ahead.spare != nil {
		t.Errorf("closeSpare left main %d alive", pids[1])
	}
}
