package runner

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/scenario"
)

// TestProgressWatch: the wait ends only when nothing advanced for the
// whole stall interval, or when a statement ran past the step budget;
// a count that keeps advancing is never cut off, however long it takes.
func TestProgressWatch(t *testing.T) {
	const stall = time.Minute
	t0 := time.Unix(1000, 0)
	type reading struct {
		after    time.Duration // since t0
		progress uint64
	}
	tests := []struct {
		name     string
		steps    uint64
		readings []reading
		want     string // "" (still waiting), "timed out" or "steps"
	}{
		{name: "slow but progressing, for hours", readings: func() []reading {
			var rs []reading
			for i := 1; i <= 100; i++ {
				rs = append(rs, reading{time.Duration(i) * time.Hour, uint64(i)})
			}
			return rs
		}()},
		{name: "no progress, under the interval", readings: []reading{{stall / 2, 0}, {stall - time.Nanosecond, 0}}},
		{name: "no progress for the interval", readings: []reading{{stall / 2, 0}, {stall, 0}}, want: "timed out"},
		{name: "progress restarts the interval", readings: []reading{{stall - 1, 0}, {stall, 1}, {2*stall - 1, 1}}},
		{name: "a pause after progress", readings: []reading{{stall, 1}, {2 * stall, 1}}, want: "timed out"},
		{name: "within the step budget", steps: 10, readings: []reading{{1, 5}, {2, 10}}},
		{name: "past the step budget", steps: 10, readings: []reading{{1, 5}, {2, 11}}, want: "steps"},
		{name: "no budget", readings: []reading{{1, 1 << 40}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newProgressWatch("the statement at t.fault:1:1", stall, tc.steps, t0, 0)
			var err error
			for _, r := range tc.readings {
				if err = w.check(t0.Add(r.after), r.progress); err != nil {
					break
				}
			}
			var to *TimedOutError
			var st errSteps
			got := ""
			switch {
			case errors.As(err, &to):
				got = "timed out"
				if to.Stall != stall || !strings.Contains(err.Error(), "t.fault:1:1") {
					t.Errorf("error %q", err)
				}
			case errors.As(err, &st):
				got = "steps"
			case err != nil:
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// testRun is a run of an empty scenario on x86_64 with its main actor.
func testRun(t *testing.T, opts Options) (*run, *Report, *scenario.Stmt) {
	t.Helper()
	s, err := scenario.Parse("t.fault", []byte("scenario t\nread 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := machine.New("x86_64", config.Default(), machine.Generic)
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Scenario: s.Name, Arch: "x86_64"}
	r := newRun(s, "x86_64", k, rep, opts)
	r.addActor("main", k.Spawn("main"))
	return r, rep, s.Body[0]
}

// TestStuckModelIsTimedOut: an actor that stops without the model
// knowing (a test double for a model deadlock: it blocks outside the
// model, so nothing progresses) ends the run as TimedOut, its own status,
// naming the statement; never as an Error or a failed expectation.
func TestStuckModelIsTimedOut(t *testing.T) {
	r, rep, st := testRun(t, Options{Stall: time.Millisecond})
	release := make(chan struct{})
	_, err := r.dispatch(r.actors["main"], st, func() kernel.Outcome {
		<-release
		return kernel.OK()
	})
	var to *TimedOutError
	if !errors.As(err, &to) {
		t.Fatalf("dispatch: %v, want a TimedOutError", err)
	}
	r.stop(st, err)
	close(release)
	r.teardown()
	if rep.Status != TimedOut || !strings.Contains(rep.Reason, "t.fault:2:1: read 0") || len(rep.Failures) != 0 {
		t.Fatalf("status %v, reason %q, failures %v", rep.Status, rep.Reason, rep.Failures)
	}
	b, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(b), `"status":"timed_out"`) {
		t.Fatalf("JSON %s (%v)", b, err)
	}
	if rep.Status.String() != "TIMEOUT" {
		t.Fatalf("text %q", rep.Status)
	}
}

// TestStuckTeardownIsTimedOut: a model that does not stop after the run
// is TimedOut too.
func TestStuckTeardownIsTimedOut(t *testing.T) {
	r, rep, _ := testRun(t, Options{Stall: time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	r.actors["main"].cmds <- func() { <-release } // stuck outside the model
	r.teardown()
	if rep.Status != TimedOut || !strings.Contains(rep.Reason, "stopping the model after the run") {
		t.Fatalf("status %v, reason %q", rep.Status, rep.Reason)
	}
}

// TestSlowModelIsNotCutOff: a statement that takes a day of (fake) time
// but makes progress all along is waited for, and completes: no
// wall-clock bound decides it. The clock is the test's: each reading of it
// lets the actor take one more step, and moves it an hour on.
func TestSlowModelIsNotCutOff(t *testing.T) {
	r, rep, st := testRun(t, Options{Stall: time.Minute})
	r.poll = time.Millisecond
	const steps = 24
	step, ack, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	clock := time.Unix(0, 0)
	r.now = func() time.Time {
		select {
		case step <- struct{}{}:
			<-ack
			clock = clock.Add(time.Hour)
		case <-finished:
		}
		return clock
	}
	main := r.actors["main"].task
	fl, err := r.dispatch(r.actors["main"], st, func() kernel.Outcome {
		defer close(finished)
		for range steps {
			<-step
			main.Sigaction(abi.SIGUSR1, kernel.SigCatch) // one call into the kernel
			ack <- struct{}{}
		}
		return kernel.OKValue(steps)
	})
	if err != nil {
		t.Fatalf("dispatch: %v", err)
	}
	out, done := r.result(fl)
	if !done || out.Value != steps {
		t.Fatalf("the statement did not complete: %v %v", out, done)
	}
	if clock.Sub(time.Unix(0, 0)) < steps*time.Hour-time.Hour {
		t.Fatalf("the test's clock moved only %v: the wait did not outlast the stall interval", clock.Sub(time.Unix(0, 0)))
	}
	r.teardown()
	if rep.Status != Pass {
		t.Fatalf("status %v: %s", rep.Status, rep.Reason)
	}
}

func TestStatusText(t *testing.T) {
	for st := Pass; st <= TimedOut; st++ {
		b, err := st.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Status
		if err := back.UnmarshalText(b); err != nil || back != st {
			t.Errorf("%v: %s read back as %v (%v)", st, b, back, err)
		}
	}
	if b, _ := TimedOut.MarshalText(); string(b) != "timed_out" {
		t.Errorf("TimedOut is %q in JSON", b)
	}
}
