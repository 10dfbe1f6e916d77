package trace

import (
	"testing"
)

// A nil track is tracing off: every method does nothing, and costs no
// allocation.
func TestNilTrackDoesNothing(t *testing.T) {
	var tr *Track
	allocs := testing.AllocsPerRun(100, func() {
		tr.Step("f", "d")
		tr.Decide("f", "d")
		tr.Begin("f", "d")
		tr.End("f", "d")
		tr.SetLine(3)
		tr.Woken(tr.Wait("schedule", "killable"))
		tr.WaitEnd(1, "woken")
		_ = tr.On()
	})
	if allocs != 0 {
		t.Errorf("a nil track allocates %v times per call set", allocs)
	}
	if tr.On() || tr.Name() != "" {
		t.Error("a nil track claims to record")
	}
	if Of(struct{}{}) != nil {
		t.Error("Of found a track on a value that carries none")
	}
}

type carrier struct{ tr *Track }

func (c carrier) Tracer() *Track { return c.tr }

func TestRecordOrderAndLines(t *testing.T) {
	r := NewRecorder(0)
	a, b := r.Track("main"), r.Track("t")
	if Of(carrier{a}) != a {
		t.Fatal("Of did not find the carrier's track")
	}
	a.SetLine(4)
	a.Begin("statement", "read A")
	a.Step("exc_page_fault", "x")
	b.Step("other", "")
	a.End("statement", "ok")
	ev := r.Events()
	want := []struct {
		track int
		kind  Kind
		fn    string
		line  int
	}{{0, Begin, "statement", 4}, {0, Step, "exc_page_fault", 4}, {1, Step, "other", 0}, {0, End, "statement", 4}}
	if len(ev) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(ev), len(want), ev)
	}
	for i, w := range want {
		e := ev[i]
		if e.Seq != uint64(i+1) || e.Track != w.track || e.Kind != w.kind || e.Func != w.fn || e.Line != w.line {
			t.Errorf("event %d = %+v, want %+v at seq %d", i, e, w, i+1)
		}
	}
	if got := r.Tracks(); len(got) != 2 || got[0] != "main" || got[1] != "t" {
		t.Errorf("tracks %v", got)
	}
}

// Past the limit, what is kept still nests and pairs: ends of phases
// begun and kept are kept, phases begun past it are dropped whole, and a
// wait kept gets its wakeup and its end.
func TestLimitKeepsNestingAndFlows(t *testing.T) {
	tests := []struct {
		name  string
		limit int
	}{{"tight", 2}, {"mid", 4}, {"wide", 100}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(tc.limit)
			a, b := r.Track("a"), r.Track("b")
			a.Begin("fault", "")
			flow := a.Wait("schedule", "killable")
			a.Begin("inner", "")
			a.Step("s", "")
			b.Step("waker", "")
			a.Woken(flow)
			a.WaitEnd(flow, "woken")
			a.End("inner", "")
			a.End("fault", "")
			a.End("fault", "") // unbalanced: ignored
			depth, waits, wakes, ends := 0, map[uint64]int{}, map[uint64]int{}, map[uint64]int{}
			for _, e := range r.Events() {
				switch e.Kind {
				case Begin:
					depth++
				case End:
					depth--
					if depth < 0 {
						t.Fatal("an end without a begin was kept")
					}
				case Wait:
					waits[e.Flow]++
				case Wake:
					wakes[e.Flow]++
				case WaitEnd:
					ends[e.Flow]++
				}
			}
			if depth != 0 {
				t.Errorf("%d phases left open", depth)
			}
			for f := range waits {
				if wakes[f] != 1 || ends[f] != 1 {
					t.Errorf("wait %d: %d wakeups, %d ends", f, wakes[f], ends[f])
				}
			}
			if len(wakes) != len(waits) || len(ends) != len(waits) {
				t.Errorf("waits %v, wakeups %v, ends %v do not pair", waits, wakes, ends)
			}
			if kept := len(r.Events()); tc.limit < 9 && r.Truncated() == 0 {
				t.Errorf("limit %d kept %d events and dropped none", tc.limit, kept)
			}
		})
	}
}

// The wakeup is on the track that ran last, the waker's.
func TestWokenByTheRunningTrack(t *testing.T) {
	r := NewRecorder(0)
	sleeper, waker := r.Track("t"), r.Track("main")
	flow := sleeper.Wait("schedule", "interruptible")
	waker.Step("uffd copy", "")
	sleeper.Woken(flow)
	sleeper.WaitEnd(flow, "woken")
	var wake *Event
	for _, e := range r.Events() {
		if e.Kind == Wake {
			wake = &e
		}
	}
	if wake == nil || wake.Track != 1 || wake.Peer != 0 || wake.Flow != flow {
		t.Fatalf("wakeup %+v, want on track 1 (main) waking track 0 in flow %d", wake, flow)
	}
}

func TestStatementsAndDiverge(t *testing.T) {
	r := NewRecorder(0)
	m := r.Track("main")
	m.SetLine(7)
	m.Begin(PhaseStatement, "read A")
	m.Begin(PhaseFault, "read 0x1000, user mode")
	m.Step("exc_page_fault", "ec")
	m.Begin("handle_mm_fault", "flags")
	m.Step("do_anonymous_page", "zero")
	m.End("handle_mm_fault", "0")
	m.Decide("verdict", "Done")
	m.End(PhaseFault, "restart")
	m.Step("arch_do_signal_or_restart", "none")
	m.End(PhaseStatement, "ok 0x0")
	sts := Statements(r.Events(), r.Tracks())
	if len(sts) != 1 || sts[0].Line != 7 || sts[0].Actor != "main" || sts[0].Outcome != "ok 0x0" || len(sts[0].Faults) != 1 {
		t.Fatalf("statements %+v", sts)
	}
	f := sts[0].Faults[0]
	depths := []int{}
	for _, s := range f.Steps {
		depths = append(depths, s.Depth)
	}
	if f.Action != "restart" || len(f.Steps) != 5 || len(f.After) != 1 || depths[0] != 0 || depths[2] != 1 || depths[3] != 0 {
		t.Errorf("fault %+v, depths %v", f, depths)
	}
	other := append([]PathStep(nil), f.Steps...)
	other[4].Detail = "something else" // a Decide step: not compared
	if d := Diverge(f.Steps, other); d != nil {
		t.Errorf("a difference in a decoding step diverges: %+v", d)
	}
	other[2].Detail = "do_wp_page"
	if d := Diverge(f.Steps, other); d == nil || d.Step != 2 || d.A.Detail != "zero" {
		t.Errorf("divergence %+v, want at step 2", d)
	}
	if d := Diverge(f.Steps, f.Steps[:2]); d == nil || d.Step != 2 || d.B != nil {
		t.Errorf("a shorter path: divergence %+v, want at step 2 with no generic step", d)
	}
}
