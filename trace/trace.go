// Package trace records the fault path as events, so that a run can show
// why a fault ended as it did: each step names the kernel function it
// mirrors (exc_page_fault, lock_vma_under_rcu, handle_mm_fault,
// filemap_fault, ...), phases nest (the fault, each attempt, each
// handle_mm_fault), and waits and wakeups pair across tasks.
//
// A Recorder collects the events of one run; each task carries a Track
// on it (nil when tracing is off). Every method of a nil *Track does
// nothing, so a call site with constant arguments costs a nil check; a
// call site that formats its detail tests On first, so that tracing off
// never allocates. The events' order is the model's own: a logical clock
// (Seq), not wall-clock time.
//
// The package sits at the bottom of the layers: it imports nothing of
// the module, so that mm, memory, kernel, fault, the front ends and the
// native handlers can all emit.
package trace

import (
	"fmt"
	"sync"
)

// Kind is what an event is.
type Kind uint8

// Kinds of event.
const (
	// Step is one step of the path: a decision, a call, a result.
	Step Kind = iota
	// Begin opens a phase on the track (a statement, a fault, an
	// attempt under a lock, a handle_mm_fault).
	Begin
	// End closes the track's innermost open phase; Detail is its result.
	End
	// Wait: the task goes to sleep (Detail: the sleep mode). Flow names
	// the wakeup that will end it.
	Wait
	// Wake: this track's task woke the sleeper of Flow (on track Peer).
	Wake
	// WaitEnd: the sleep of Flow ended, woken or interrupted (Detail).
	WaitEnd
	// Decide is a handler's own reading of the VM_FAULT_* bits into what
	// to do (the generic decode and verdict, a native handler's
	// mm_fault_error or do_sigbus): the steps where the two handlers are
	// written differently even when they agree, so that a comparison of
	// their paths looks past them.
	Decide
)

var kindNames = [...]string{Step: "step", Begin: "begin", End: "end", Wait: "wait", Wake: "wake", WaitEnd: "wait_end", Decide: "decide"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("trace: unknown event kind %q", b)
}

// Event is one recorded event.
type Event struct {
	// Seq is the logical clock: events are numbered in the order the
	// model made them, from 1.
	Seq   uint64
	Track int // index in Recorder.Tracks
	Kind  Kind
	// Func is the kernel function the step mirrors ("filemap_fault").
	Func string
	// Detail says what happened, for people ("miss: read 1 page, lock dropped").
	Detail string
	// Flow pairs a Wait, the Wake that ended it and its WaitEnd (0: none).
	Flow uint64
	// Peer is, for Wake, the track of the task woken.
	Peer int
	// Line is the scenario line of the statement the track was running
	// (0 outside any).
	Line int
}

// DefaultLimit bounds the events one recorder keeps: a fault that
// livelocks retries ten thousand times, and a trace need not hold them
// all. Past the limit, new steps and phases are dropped (Truncated
// says so); the ends of phases already open and the ends of waits
// already recorded are still kept, so that what is kept nests and pairs.
const DefaultLimit = 1 << 18

// Recorder collects the events of one run. It is safe for concurrent
// use; the model's tasks run one at a time, so its order is the model's.
type Recorder struct {
	mu        sync.Mutex
	limit     int
	events    []Event
	tracks    []*Track
	flows     uint64
	cur       int // the track that emitted last: the running task
	truncated int
}

// NewRecorder returns a recorder keeping up to limit events (0: DefaultLimit).
func NewRecorder(limit int) *Recorder {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Recorder{limit: limit, cur: -1}
}

// Track returns a new track, for the task or actor called name.
func (r *Recorder) Track(name string) *Track {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &Track{rec: r, id: len(r.tracks), name: name}
	r.tracks = append(r.tracks, t)
	return t
}

// Events returns a copy of the events recorded so far, in order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Tracks returns the tracks' names, by index.
func (r *Recorder) Tracks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, len(r.tracks))
	for i, t := range r.tracks {
		names[i] = t.name
	}
	return names
}

// Truncated returns how many events were dropped past the limit.
func (r *Recorder) Truncated() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.truncated
}

// add appends e, keeping it even past the limit when keep says so.
// Preconditions: r.mu is held.
func (r *Recorder) add(t *Track, e Event, keep bool) bool {
	if len(r.events) >= r.limit && !keep {
		r.truncated++
		return false
	}
	e.Seq = uint64(len(r.events) + r.truncated + 1)
	e.Track, e.Line = t.id, t.line
	r.events = append(r.events, e)
	r.cur = t.id
	return true
}

// Track is one task's (or actor's) line of events. The nil *Track is
// tracing off: every method does nothing.
type Track struct {
	rec  *Recorder
	id   int
	name string

	// Guarded by rec.mu.
	line    int // the statement the track is running
	open    int // phases begun and kept, not yet ended
	skipped int // phases begun past the limit, not yet ended
}

// On reports whether the track records: call sites that format a detail
// test it first, so that tracing off costs nothing more.
func (t *Track) On() bool { return t != nil }

// Name returns the track's name.
func (t *Track) Name() string {
	if t == nil {
		return ""
	}
	return t.name
}

// Step records one step of the path: fn is the kernel function it
// mirrors, detail what happened.
func (t *Track) Step(fn, detail string) {
	if t != nil { // inlined: tracing off costs the caller a nil check
		t.step(fn, detail)
	}
}

func (t *Track) step(fn, detail string) {
	t.rec.mu.Lock()
	t.rec.add(t, Event{Kind: Step, Func: fn, Detail: detail}, false)
	t.rec.mu.Unlock()
}

// Decide records a handler's own decoding step (see Decide).
func (t *Track) Decide(fn, detail string) {
	if t != nil {
		t.decide(fn, detail)
	}
}

func (t *Track) decide(fn, detail string) {
	t.rec.mu.Lock()
	t.rec.add(t, Event{Kind: Decide, Func: fn, Detail: detail}, false)
	t.rec.mu.Unlock()
}

// Begin opens a phase: fn is the kernel function it mirrors.
func (t *Track) Begin(fn, detail string) {
	if t != nil {
		t.begin(fn, detail)
	}
}

func (t *Track) begin(fn, detail string) {
	t.rec.mu.Lock()
	if t.rec.add(t, Event{Kind: Begin, Func: fn, Detail: detail}, false) {
		t.open++
	} else {
		t.skipped++
	}
	t.rec.mu.Unlock()
}

// End closes the innermost open phase; result says how it ended. An End
// without an open phase is ignored, so that what is kept always nests.
func (t *Track) End(fn, result string) {
	if t != nil {
		t.end(fn, result)
	}
}

func (t *Track) end(fn, result string) {
	t.rec.mu.Lock()
	switch {
	case t.skipped > 0:
		t.skipped--
		t.rec.truncated++
	case t.open > 0:
		t.open--
		t.rec.add(t, Event{Kind: End, Func: fn, Detail: result}, true)
	}
	t.rec.mu.Unlock()
}

// SetLine sets the scenario line of the statement the track runs now.
func (t *Track) SetLine(line int) {
	if t == nil {
		return
	}
	t.rec.mu.Lock()
	t.line = line
	t.rec.cur = t.id
	t.rec.mu.Unlock()
}

// Wait records that the task goes to sleep in fn (mode: how signals end
// it) and returns the flow that pairs it with its wakeup: pass it to
// Woken and WaitEnd. 0 means nothing was recorded.
func (t *Track) Wait(fn, mode string) uint64 {
	if t == nil {
		return 0
	}
	t.rec.mu.Lock()
	defer t.rec.mu.Unlock()
	t.rec.flows++
	id := t.rec.flows
	if !t.rec.add(t, Event{Kind: Wait, Func: fn, Detail: mode, Flow: id}, false) {
		return 0
	}
	return id
}

// Woken records that the task of t, asleep in the wait of flow, was
// woken, by the task that ran last (a waker calls it synchronously,
// before the sleeper runs: the model's tasks run one at a time).
func (t *Track) Woken(flow uint64) {
	if t == nil || flow == 0 {
		return
	}
	r := t.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	by := t
	if r.cur >= 0 && r.cur < len(r.tracks) {
		by = r.tracks[r.cur]
	}
	cur := r.cur
	r.add(by, Event{Kind: Wake, Func: "wake_up", Detail: "wakes " + t.name, Flow: flow, Peer: t.id}, true)
	r.cur = cur // waking is not running
}

// WaitEnd records that the sleep of flow ended: woken, or interrupted by
// a signal, or by the end of the run.
func (t *Track) WaitEnd(flow uint64, how string) {
	if t == nil || flow == 0 {
		return
	}
	t.rec.mu.Lock()
	t.rec.add(t, Event{Kind: WaitEnd, Func: "schedule", Detail: how, Flow: flow}, true)
	t.rec.mu.Unlock()
}

// Carrier is what carries a track: the task (kernel.Task).
type Carrier interface {
	Tracer() *Track
}

// Of returns the track x carries, or nil: layers below the task, which
// see it as a sched.Sleeper or a memory.Faulter, find its track so.
func Of(x any) *Track {
	if c, ok := x.(Carrier); ok {
		return c.Tracer()
	}
	return nil
}
