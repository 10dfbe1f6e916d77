package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressDelay is how long a run goes before its progress line shows:
// a short run prints nothing but its results.
const progressDelay = time.Second

// progress is the line a run keeps at the bottom of a terminal, on stderr:
// "faultline run: 12/200 scenarios, 3s". It shows once the run has lasted
// progressDelay, is redrawn on each tick and step, is erased while results
// are printed (stdout may be the same terminal) and at the end. It is
// only for a terminal: startProgress gives nil for anything else (a pipe,
// a file, a test's buffer), and every method of a nil *progress only
// does what it must (step still prints).
type progress struct {
	w     io.Writer
	label string
	total int
	unit  string // what is counted, plural
	start time.Time
	now   func() time.Time

	mu    sync.Mutex
	done  int
	shown string // the line on screen; "" when none

	quit   chan struct{}
	exited chan struct{}
	stopT  func()
}

// startProgress starts the progress line of a run of total scenarios on
// stderr, if stderr is a terminal.
func startProgress(stderr io.Writer, label string, total int) *progress {
	return startProgressOf(stderr, label, total, "scenarios")
}

// startProgressOf is startProgress counting unit (plural).
func startProgressOf(stderr io.Writer, label string, total int, unit string) *progress {
	if !isTerminal(stderr) {
		return nil
	}
	t := time.NewTicker(250 * time.Millisecond)
	p := newProgress(stderr, label, total, unit, time.Now, t.C)
	p.stopT = t.Stop
	return p
}

// newProgress is startProgress with its clock and its ticks given.
func newProgress(w io.Writer, label string, total int, unit string, now func() time.Time, tick <-chan time.Time) *progress {
	p := &progress{w: w, label: label, total: total, unit: unit, start: now(), now: now, quit: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		for {
			select {
			case <-tick:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			case <-p.quit:
				return
			}
		}
	}()
	return p
}

// step counts one scenario done; print, if any, writes its results with
// the line erased.
func (p *progress) step(print func()) {
	if p == nil {
		if print != nil {
			print()
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if print != nil {
		p.erase()
		print()
	}
	p.done++
	p.draw()
}

// end stops the ticks and erases the line.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.quit)
	<-p.exited
	if p.stopT != nil {
		p.stopT()
	}
	p.mu.Lock()
	p.erase()
	p.mu.Unlock()
}

// draw writes the line, once the run has lasted progressDelay, if it
// changed. p.mu is held.
func (p *progress) draw() {
	elapsed := p.now().Sub(p.start)
	if elapsed < progressDelay {
		return
	}
	line := fmt.Sprintf("%s: %d/%d %s, %ds", p.label, p.done, p.total, p.unit, int(elapsed/time.Second))
	if line == p.shown {
		return
	}
	pad := ""
	if n := len(p.shown) - len(line); n > 0 {
		pad = strings.Repeat(" ", n) // over the end of a longer line
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.shown = line
}

// erase blanks the line and puts the cursor back at its start: "\r",
// spaces, "\r" needs nothing of the terminal (no escape sequences, so
// TERM=dumb works too). p.mu is held.
func (p *progress) erase() {
	if p.shown == "" {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", len(p.shown)))
	p.shown = ""
}
