//go:build linux

package hostrun

import (
	"context"
	"sync"
	"time"

	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/timeout"
)

// spare is an executor started ahead of the run that will use it: its
// processes, the watchdog and actor main, idle until then, waiting for
// their first command as a freshly started executor does.
type spare struct {
	scale timeout.Scale // the scale it was started with
	ready chan struct{} // closed when the start has ended
	ex    *host.Executor
	main  *host.Actor
	err   error
}

// aheadState is the spare of a Host with Ahead set.
type aheadState struct {
	mu    sync.Mutex
	spare *spare
}

// startSpare starts the next run's executor in the background, once the
// previous run has been torn down: starting one (two fork+execs, the
// loader, the hello) is most of what a short scenario costs, and its
// caller has work of its own between two runs (conform runs the models).
func (h *Host) startSpare(scale timeout.Scale) {
	h.ahead.mu.Lock()
	defer h.ahead.mu.Unlock()
	if h.ahead.spare != nil {
		return
	}
	sp := &spare{scale: scale, ready: make(chan struct{})}
	h.ahead.spare = sp
	go func() {
		defer close(sp.ready)
		ctx, cancel := context.WithTimeout(timeout.WithScale(context.Background(), scale), scale.Of(10*time.Second))
		defer cancel()
		sp.ex, sp.err = host.Start(ctx, h.bin)
		if sp.err != nil {
			return
		}
		sp.main, sp.err = sp.ex.Actor("main", scale.Of(5*time.Second))
		if sp.err != nil {
			sp.ex.Close()
		}
	}()
}

// takeSpare returns the executor started ahead with scale, and its main,
// once its start has ended; ok is false when there is none, or it failed
// (it is then gone). A spare of another scale is closed.
func (h *Host) takeSpare(scale timeout.Scale) (ex *host.Executor, main *host.Actor, ok bool) {
	h.ahead.mu.Lock()
	sp := h.ahead.spare
	h.ahead.spare = nil
	h.ahead.mu.Unlock()
	if sp == nil {
		return nil, nil, false
	}
	<-sp.ready // bounded by its start's own bounds
	if sp.err != nil {
		return nil, nil, false
	}
	if sp.scale != scale || sp.main.Gone() {
		sp.ex.Close()
		return nil, nil, false
	}
	return sp.ex, sp.main, true
}

// closeSpare stops the executor started ahead, if there is one.
func (h *Host) closeSpare() {
	if ex, _, ok := h.takeSpare(h.scale); ok {
		ex.Close()
	}
	// One of another scale was closed by takeSpare.
}
