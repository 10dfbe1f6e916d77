// Package runner runs scenarios on the model: one machine per scenario and
// architecture, one goroutine per actor, every statement checked against
// its expectation.
//
// Actors run one at a time. After each statement the runner waits until
// no actor is runnable (each is idle, or asleep in the model), so a run is
// deterministic: a statement that blocks is seen to block, not raced.
//
// That wait is bounded by progress, not by a wall-clock limit: a slow
// machine only makes it longer. The runner waits for as long as the
// kernel's progress count advances (calls, traps, sleeps and wakeups),
// up to a step budget per statement; a fault that retries forever is
// already cut off by the fault path as a livelock. Only a model that
// makes no progress at all for a (scaled) stall interval ends the run,
// and that run is TimedOut: it says nothing about the model's answers.
package runner

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/check"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
	"github.com/faultline/faultline/trace"
)

// Status is the result of one scenario on one architecture.
type Status int

// Statuses.
const (
	Pass  Status = iota // every expectation held
	Fail                // an expectation did not hold
	Skip                // the scenario could not run (or not to its end) here
	Error               // the run itself broke: a model bug, a runner error
	// TimedOut: a wall-clock safety net ended the run (nothing progressed
	// for its whole interval); it says nothing about the outcomes.
	TimedOut
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	case Skip:
		return "SKIP"
	case Error:
		return "ERROR"
	case TimedOut:
		return "TIMEOUT"
	}
	return "?"
}

// word is the status's name in JSON.
func (s Status) word() string {
	if s == TimedOut {
		return "timed_out"
	}
	return strings.ToLower(s.String())
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.word()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	for st := Pass; st <= TimedOut; st++ {
		if strings.EqualFold(string(b), st.word()) {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("unknown status %q", b)
}

// Failure is one expectation that did not hold.
type Failure struct {
	Pos      string `json:"pos"`
	Stmt     string `json:"statement"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Note     string `json:"note,omitempty"`
}

// Report is the result of one scenario on one architecture and handler.
type Report struct {
	Scenario string          `json:"scenario"`
	File     string          `json:"file"`
	Arch     string          `json:"arch"`
	Handler  machine.Handler `json:"handler"`
	// Kernel is the kernel version the machine modeled (MAJOR.MINOR),
	// after the scenario's pins; empty when no machine was configured.
	Kernel     string    `json:"kernel,omitempty"`
	Status     Status    `json:"status"`
	Statements int       `json:"statements"` // statements run
	Checked    int       `json:"checked"`    // expectations checked
	Failures   []Failure `json:"failures,omitempty"`
	// Steps has one entry per statement run, when Options.Record asks.
	Steps  []Step `json:"steps,omitempty"`
	Reason string `json:"reason,omitempty"` // why it was skipped, errored or timed out
	// Rules names the conversion rules (package arch's table) the native
	// handler noted anywhere in the run, teardown included, in the
	// table's order: where the arch departed from the generic handler.
	Rules    []string      `json:"rules,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// Traps counts the traps (faults) the run's tasks took, when it was
	// traced (Options.Trace): a trace has a fault phase for each.
	Traps int64 `json:"traps,omitempty"`
}

// Step is one statement's outcome in a recorded run.
type Step struct {
	Index    int    `json:"index"` // in Scenario.Body
	Pos      string `json:"pos"`
	Stmt     string `json:"statement"`
	Checked  bool   `json:"checked"` // an outcome was compared (not a background start)
	OK       bool   `json:"ok"`
	Expected string `json:"expected"`
	// Observed is the outcome with addresses relative to regions, as
	// check.Symbolic prints it: comparable between runs at other addresses.
	Observed string `json:"observed"`
	// Written is the outcome as an expectation of this statement writes
	// it (check.Writable: the scenario's own names, valid syntax), and
	// Exact whether the statement's expectation already says exactly
	// that: what faultline observe writes back.
	Written string `json:"written,omitempty"`
	Exact   bool   `json:"exact,omitempty"`
	// Rules names the conversion rules the native handler noted while
	// this statement ran: from its dispatch until every actor was idle
	// or asleep again. That is every fault the statement caused, in its
	// own actor and in any it woke (a kill ending another actor's wait,
	// a uffd copy resuming its fault), since actors run one at a time. A
	// background statement's faults after it first settles are noted at
	// the statement that caused them, not at the wait that collects the
	// outcome: the kernel does not say which task noted a rule, and the
	// statement running is what made the model take that path.
	Rules []string `json:"rules,omitempty"`
}

// Options tune a run.
type Options struct {
	// Record keeps every statement's outcome in Report.Steps.
	Record bool
	// Handler is the fault path the machine runs: the arch's native
	// handler (the zero value) or the generic one.
	Handler machine.Handler
	// Config is the base configuration, before the scenario's pins;
	// nil means config.Default().
	Config *config.Kernel
	// Kernel, when set, is the one kernel version to model: it replaces
	// the base configuration's, and a scenario that pins another is
	// skipped, naming its pin.
	Kernel *config.Version
	// Scale multiplies the wall-clock safety net (Stall's default); the
	// zero Scale is FAULTLINE_TIMEOUT_SCALE's factor, else 1.
	Scale timeout.Scale
	// Stall is how long the model may make no progress at all, while an
	// actor is still runnable (after a statement, or at the end of the
	// run), before the run ends as TimedOut. 0 means DefaultStall × Scale.
	Stall time.Duration
	// Steps bounds the progress one statement may make without the
	// model settling; past it the run is an Error (a loop in the model
	// that no retry bound catches). It counts steps, not time, so a slow
	// machine never reaches it. 0 means DefaultSteps.
	Steps uint64
	// Trace, when set, is asked for the recorder of the run of s on arch
	// with handler h (nil: that run is not traced): every task of the run
	// records its fault path on it, and each statement is a phase of its
	// actor's track. It may be called from several goroutines at once.
	Trace func(s *scenario.Scenario, arch string, h machine.Handler) *trace.Recorder
}

// Defaults of Options.
const (
	DefaultStall = 30 * time.Second
	DefaultSteps = 1 << 24 // the corpus's most is 16 385 (memcg-oom-kernel)
)

// Unsupported is why a statement cannot run on the model yet.
type Unsupported struct{ Keyword, Detail string }

func (u Unsupported) Error() string {
	if u.Detail != "" {
		return fmt.Sprintf("%s (%s) is not supported by the model yet", u.Keyword, u.Detail)
	}
	return fmt.Sprintf("%s is not supported by the model yet", u.Keyword)
}

// Arches returns the modeled architectures s runs on: its arch header
// (or every modeled one) narrowed to only when only is not empty, and the
// names it lists that are not modeled.
func Arches(s *scenario.Scenario, only string) (run, notModeled []string) {
	want := s.Arches
	switch {
	case len(want) == 0 && only != "":
		want = []string{only} // a scenario for every arch is for this one
	case len(want) == 0:
		want = machine.Arches()
	}
	for _, a := range want {
		switch {
		case only != "" && a != only:
		case machine.Modeled(a):
			run = append(run, a)
		default:
			notModeled = append(notModeled, a)
		}
	}
	return run, notModeled
}

// Run runs s on the model of arch.
func Run(s *scenario.Scenario, arch string, opts Options) Report {
	start := time.Now()
	rep := Report{Scenario: s.Name, File: s.Pos.File, Arch: arch, Handler: opts.Handler}
	cfg := config.Default()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if opts.Kernel != nil {
		cfg.Version = *opts.Kernel
	}
	for _, pin := range s.Config {
		if err := cfg.Set(pin.Key, pin.Value); err != nil {
			rep.Status, rep.Reason = Error, fmt.Sprintf("%s: %v", pin.Pos, err)
			return rep
		}
		if opts.Kernel != nil && cfg.Version != *opts.Kernel {
			rep.Kernel = cfg.Version.String()
			rep.Status, rep.Reason = Skip, fmt.Sprintf("%s: the scenario pins kernel=%s; this run models kernel %s only", pin.Pos, pin.Value, opts.Kernel)
			return rep
		}
	}
	rep.Kernel = cfg.Version.String()
	if rc, err := cfg.ResolvePageSize(arch); err == nil {
		// Sizes in pg are the arch's base pages.
		ps, err := s.ForPageSize(rc.PageSize)
		if err != nil {
			rep.Status, rep.Reason = Error, fmt.Sprintf("with %d-byte pages: %v", rc.PageSize, err)
			return rep
		}
		s = ps
	}
	k, err := machine.New(arch, cfg, opts.Handler)
	if ce := (*machine.ConfigError)(nil); errors.As(err, &ce) {
		// A pinned value the arch cannot have: the pin's error.
		rep.Status, rep.Reason = Error, fmt.Sprintf("%s: %v", pinPos(s, "page_size"), err)
		return rep
	}
	if err != nil {
		rep.Status, rep.Reason = Skip, err.Error()
		return rep
	}
	if opts.Trace != nil {
		k.SetTracer(opts.Trace(s, arch, opts.Handler))
	}
	r := newRun(s, arch, k, &rep, opts)
	r.generic = opts.Handler == machine.Generic
	r.execute()
	rep.Traps = k.TracedTraps()
	rep.Duration = time.Since(start)
	return rep
}

// pinPos returns where s pins key, or where s starts.
func pinPos(s *scenario.Scenario, key string) scenario.Pos {
	for _, pin := range s.Config {
		if pin.Key == key {
			return pin.Pos
		}
	}
	return s.Pos
}

// newRun prepares the run of s on k, reporting to rep.
func newRun(s *scenario.Scenario, arch string, k *kernel.Kernel, rep *Report, opts Options) *run {
	stall := opts.Stall
	if stall <= 0 {
		stall = opts.Scale.Of(DefaultStall)
	}
	steps := opts.Steps
	if steps == 0 {
		steps = DefaultSteps
	}
	r := &run{
		s: s, arch: arch, k: k, rep: rep, stall: stall, steps: steps, poll: pollEvery(stall), record: opts.Record,
		actors:  map[string]*actor{},
		byTask:  map[*kernel.Task]*actor{},
		regions: check.NewRegions(k.Arch().RetByte()),
		notify:  make(chan struct{}, 1),
		now:     time.Now,
	}
	k.SetObserver(r)
	// A livelocked actor keeps trying whenever another statement ends, as
	// the real task keeps spinning: the page it faults on may have come.
	k.ResumeLivelocks = true
	return r
}

// actor is one named task and the goroutine that runs its statements.
type actor struct {
	name    string
	task    *kernel.Task
	cmds    chan func()
	pending *inflight // a statement that blocked and has not been waited for
	// minflt and majflt are the counts at the actor's last faults statement.
	minflt, majflt int64
}

// inflight is a statement dispatched to an actor.
type inflight struct {
	stmt *scenario.Stmt
	done bool // guarded by run.mu
	out  kernel.Outcome
}

type run struct {
	s       *scenario.Scenario
	arch    string
	generic bool // the machine runs the generic handler: generic=> overrides apply
	k       *kernel.Kernel
	rep     *Report
	stall   time.Duration // how long no progress at all ends the run
	steps   uint64        // the progress a statement may make unsettled
	poll    time.Duration // how often a wait reads the progress count
	ticker  *time.Ticker  // ticks every poll, from the first wait that needs it
	now     func() time.Time
	actors  map[string]*actor
	byTask  map[*kernel.Task]*actor
	regions *check.Regions
	wg      sync.WaitGroup

	record bool // keep Steps
	index  int  // of the statement being run
	// noted is the set of rules noted while the statement being run ran
	// (kernel.TakeRulesNoted after it settled); all, over the run.
	noted, all uint64

	mu      sync.Mutex // guards running, spawned and inflight results
	running int        // actors executing and not asleep
	spawned []spawnRec // tasks created by thread/fork, not yet actors
	notify  chan struct{}
}

// adoptSpawned makes the tasks that thread and fork created into actors.
func (r *run) adoptSpawned() {
	r.mu.Lock()
	sp := r.spawned
	r.spawned = nil
	r.mu.Unlock()
	for _, s := range sp {
		r.addActor(s.name, s.task)
	}
}

// TaskBlocked implements kernel.Observer.
func (r *run) TaskBlocked(*kernel.Task) { r.adjust(-1) }

// TaskRunning implements kernel.Observer.
func (r *run) TaskRunning(*kernel.Task) { r.adjust(+1) }

func (r *run) adjust(d int) {
	r.mu.Lock()
	r.running += d
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// TimedOutError ends a run whose model made no progress for the whole
// stall interval: a wall-clock safety net, not a verdict on the model.
type TimedOutError struct {
	What  string        // what did not end ("the statement at FILE:L:C")
	Stall time.Duration // the interval without progress
}

func (e *TimedOutError) Error() string {
	return fmt.Sprintf("%s: the model made no progress for %v (a safety net: --timeout-scale or %s widens it)", e.What, e.Stall, timeout.EnvVar)
}

// errSteps: a statement made the whole step budget of progress and the
// model still did not settle.
type errSteps struct {
	what  string
	steps uint64
}

func (e errSteps) Error() string {
	return fmt.Sprintf("%s: the model made %d steps of progress without settling (a loop no retry bound catches: a model bug)", e.what, e.steps)
}

// progressWatch tells a slow model from a stuck one: it is fed the
// kernel's progress count and the time, now and then, and says when
// nothing has advanced for the stall interval or too much has.
type progressWatch struct {
	stall time.Duration
	steps uint64
	what  string

	first, last uint64    // the count at the start, at the last advance
	since       time.Time // when it last advanced
}

func newProgressWatch(what string, stall time.Duration, steps uint64, now time.Time, progress uint64) *progressWatch {
	return &progressWatch{stall: stall, steps: steps, what: what, first: progress, last: progress, since: now}
}

// check takes one reading; an error ends the wait.
func (w *progressWatch) check(now time.Time, progress uint64) error {
	if progress != w.last {
		w.last, w.since = progress, now
		if w.steps > 0 && progress-w.first > w.steps {
			return errSteps{w.what, w.steps}
		}
		return nil
	}
	if now.Sub(w.since) >= w.stall {
		return &TimedOutError{What: w.what, Stall: w.stall}
	}
	return nil
}

// pollEvery is how often a wait reads the progress count: often enough
// to notice a stall soon after its interval, rarely enough to cost nothing.
func pollEvery(stall time.Duration) time.Duration {
	return min(max(stall/8, time.Millisecond), 250*time.Millisecond)
}

// reading takes the time first, then the count: a reading never pairs a
// late time with an early count.
func (r *run) reading() (time.Time, uint64) {
	now := r.now()
	return now, r.k.Progress()
}

// settleDown waits until no actor is runnable, for as long as the model
// makes progress; st is the statement being waited for, named in the
// error.
func (r *run) settleDown(st *scenario.Stmt) error {
	var w progressWatch
	watching := false
	for {
		r.mu.Lock()
		n := r.running
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		if !watching {
			now, p := r.reading()
			w, watching = progressWatch{stall: r.stall, steps: r.steps, first: p, last: p, since: now}, true
		}
		select {
		case <-r.notify:
		case <-r.ticks():
			if w.what == "" { // named on a tick, not for every statement
				w.what = fmt.Sprintf("%s: %s", st.Pos, strings.Join(strings.Fields(st.Text), " "))
			}
			if err := w.check(r.reading()); err != nil {
				return err
			}
		}
	}
}

// ticks returns the channel of the run's ticker, started at its first
// wait that does not end at once: one ticker for every wait of the run
// (a tick left over from an earlier wait only takes a reading early).
func (r *run) ticks() <-chan time.Time {
	if r.ticker == nil {
		r.ticker = time.NewTicker(r.poll)
	}
	return r.ticker.C
}

func (r *run) addActor(name string, t *kernel.Task) {
	a := &actor{name: name, task: t, cmds: make(chan func())}
	r.actors[name] = a
	r.byTask[t] = a
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for f := range a.cmds {
			f()
		}
	}()
}

// dispatch runs f as actor a and waits for the model to settle. It
// returns the in-flight record: done, or blocked.
func (r *run) dispatch(a *actor, st *scenario.Stmt, f func() kernel.Outcome) (*inflight, error) {
	fl := &inflight{stmt: st}
	r.adjust(+1)
	tr := a.task.Tracer()
	var text string
	if tr.On() {
		text = strings.Join(strings.Fields(st.Text), " ")
		tr.SetLine(st.Pos.Line)
	}
	a.cmds <- func() {
		tr.Begin("statement", text)
		out := f()
		if tr.On() {
			tr.End("statement", describeOutcome(out))
		}
		r.mu.Lock()
		fl.out, fl.done = out, true
		r.mu.Unlock()
		r.adjust(-1)
	}
	if err := r.settleDown(st); err != nil {
		return nil, err
	}
	return fl, nil
}

func (r *run) result(fl *inflight) (kernel.Outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fl.out, fl.done
}

func (r *run) execute() {
	main := r.k.Spawn("main")
	r.addActor("main", main)
	defer func() {
		if r.ticker != nil {
			r.ticker.Stop() // after the teardown's wait
		}
	}()
	defer r.teardown()
	for i, st := range r.s.Body {
		r.index = i
		err := r.step(st)
		if err == nil {
			continue
		}
		r.stop(st, err)
		return
	}
	if len(r.rep.Failures) > 0 {
		r.rep.Status = Fail
	}
}

// stop ends the run at st with err.
func (r *run) stop(st *scenario.Stmt, err error) {
	var u Unsupported
	var to *TimedOutError
	switch {
	case asUnsupported(err, &u):
		// What was checked before stands: a failure there fails the
		// scenario; the rest is skipped.
		r.rep.Status = Skip
		if len(r.rep.Failures) > 0 {
			r.rep.Status = Fail
		}
		r.rep.Reason = fmt.Sprintf("%s: %v", st.Pos, u)
	case errors.As(err, &to):
		r.rep.Status, r.rep.Reason = TimedOut, err.Error()
	default:
		r.rep.Status, r.rep.Reason = Error, err.Error()
	}
}

// teardown kills every process, ends every sleep, stops the actors and
// checks that all memory came back. It waits as settleDown does, for as
// long as the model makes progress: a model that stopped progressing is
// reported as TimedOut, and its goroutines are abandoned rather than hang
// the run.
func (r *run) teardown() {
	done := make(chan struct{})
	go func() {
		r.k.KillAll()
		r.k.Shutdown()
		for _, a := range r.actors {
			close(a.cmds)
		}
		r.wg.Wait()
		// After the actors: a task woken by the kill frees its huge pages
		// on its way out, and they must be back in the pool to be freed.
		r.k.ReleaseFiles()
		close(done)
	}()
	if err := r.awaitProgress(done, "stopping the model after the run"); err != nil {
		var to *TimedOutError
		if errors.As(err, &to) {
			r.fail(TimedOut, err.Error())
		} else {
			r.fail(Error, err.Error())
		}
		return
	}
	r.all |= r.k.TakeRulesNoted()
	r.rep.Rules = ruleNames(r.all)
	if st := r.k.Phys().Stats(); st.InUse != 0 && r.rep.Status != Error && r.rep.Status != TimedOut {
		r.fail(Error, fmt.Sprintf("memory accounting: %d pages still in use after every process exited", st.InUse))
	} else if st.InUse == 0 {
		r.k.Phys().Recycle() // the next run's frames reuse these contents
	}
}

// awaitProgress waits until done is closed, for as long as the model
// makes progress (the teardown's wait: no step budget, since killing
// every task is finite work).
func (r *run) awaitProgress(done <-chan struct{}, what string) error {
	select {
	case <-done:
		return nil
	default:
	}
	now, p := r.reading()
	w := newProgressWatch(what, r.stall, 0, now, p)
	for {
		select {
		case <-done:
			return nil
		case <-r.ticks():
			if err := w.check(r.reading()); err != nil {
				return err
			}
		}
	}
}

// fail records a status that ends the run; a TimedOut or an Error
// already recorded is kept, with its reason.
func (r *run) fail(s Status, reason string) {
	if r.rep.Status == TimedOut || r.rep.Status == Error {
		return
	}
	r.rep.Status = s
	if r.rep.Reason != "" {
		reason += "; before that: " + r.rep.Reason
	}
	r.rep.Reason = reason
}

// check compares an outcome with st's expectation on this arch.
func (r *run) check(st *scenario.Stmt, obs check.Observation) { r.checkOf(st, st, obs) }

// checkOf is check of the outcome of origin: st itself, or the statement
// a wait collects.
func (r *run) checkOf(st, origin *scenario.Stmt, obs check.Observation) {
	r.rep.Checked++
	want := st.ExpectFor(r.arch, r.generic, r.k.Config().Version)
	ok, note := check.Match(want, obs, r.regions)
	if r.record {
		written, exact := check.Writable(st, origin, want, obs, r.regions)
		r.rep.Steps = append(r.rep.Steps, Step{
			Index: r.index, Pos: st.Pos.String(), Stmt: strings.Join(strings.Fields(st.Text), " "),
			Checked: true, OK: ok, Expected: check.Expected(want, r.regions), Observed: check.Symbolic(obs, r.regions),
			Written: written, Exact: exact, Rules: ruleNames(r.noted),
		})
	}
	if ok {
		return
	}
	r.rep.Failures = append(r.rep.Failures, Failure{
		Pos: st.Pos.String(), Stmt: strings.Join(strings.Fields(st.Text), " "),
		Expected: check.Expected(want, r.regions),
		Actual:   check.Observed(obs, r.regions),
		Note:     note,
	})
}

// unchecked records, when recording, a statement that compared nothing
// (a background start, a faults baseline), for the rules it noted.
func (r *run) unchecked(st *scenario.Stmt) {
	if r.record {
		r.rep.Steps = append(r.rep.Steps, Step{Index: r.index, Pos: st.Pos.String(),
			Stmt: strings.Join(strings.Fields(st.Text), " "), OK: true, Rules: ruleNames(r.noted)})
	}
}

// ruleNames names the rules of a set of bits, in the table's order.
func ruleNames(bits uint64) []string {
	var out []string
	for _, rule := range arch.Noted(bits) {
		out = append(out, rule.Name)
	}
	return out
}

// observe turns a model outcome into an observation.
func observe(o kernel.Outcome) check.Observation {
	switch o.Kind {
	case kernel.OutOK:
		return check.Observation{Kind: scenario.OutOK, HasValue: o.HasValue, Value: o.Value}
	case kernel.OutSignal:
		return check.Observation{Kind: scenario.OutSignal, Signal: o.Info.Signo, Code: o.Info.Code, Addr: o.Info.Addr, LSB: int(o.Info.LSB)}
	case kernel.OutErrno:
		return check.Observation{Kind: scenario.OutErrno, Errno: o.Errno}
	case kernel.OutKilled:
		return check.Observation{Kind: scenario.OutKilled, Signal: o.Signal}
	case kernel.OutOops:
		return check.Observation{Kind: scenario.OutOops}
	case kernel.OutFault:
		return check.Observation{Kind: scenario.OutFault, Addr: o.Msg.Addr, Write: o.Msg.Write, WP: o.Msg.WP, Minor: o.Msg.Minor}
	}
	return check.Observation{Kind: scenario.OutLivelock}
}

// observeFor is the observation of st's outcome: only reads and kernel
// copies have a value; an mmap's address or a fork's pid is bound or
// dropped, never compared, since it depends on the layout.
func observeFor(st *scenario.Stmt, o kernel.Outcome) check.Observation {
	obs := observe(o)
	switch op := st.Op.(type) {
	case *scenario.Read, *scenario.KRead, *scenario.KWrite, *scenario.KDeref:
	case *scenario.Uffd:
		// The fill ioctls report the bytes they filled.
		if op.Cmd != scenario.UffdCopy && op.Cmd != scenario.UffdZeropage &&
			op.Cmd != scenario.UffdContinue && op.Cmd != scenario.UffdPoison {
			obs.HasValue = false
		}
	default:
		obs.HasValue = false
	}
	return obs
}

var (
	blocked  = check.Observation{Kind: scenario.OutBlocked}
	livelock = check.Observation{Kind: scenario.OutLivelock}
)

// unfinished is what a statement of t that has not finished shows:
// blocked, or livelock while t spins in the kernel on a fault that
// cannot complete (kernel.Task.Livelocked).
func unfinished(t *kernel.Task) check.Observation {
	if t.Livelocked() {
		return livelock
	}
	return blocked
}

// addr resolves an address expression, or explains why it cannot.
func (r *run) addr(a scenario.Addr) (uint64, error) {
	return r.regions.Resolve(a)
}

func (r *run) byteVal(b scenario.Byte) byte {
	if b.Ret {
		return r.k.Arch().RetByte()
	}
	return b.Value
}

func prot(p scenario.Prot) mm.Prot {
	var m mm.Prot
	if p.Read {
		m |= mm.ProtRead
	}
	if p.Write {
		m |= mm.ProtWrite
	}
	if p.Exec {
		m |= mm.ProtExec
	}
	return m
}

// step runs one statement. Expectation failures are recorded; an error
// stops the run.
func (r *run) step(st *scenario.Stmt) error {
	r.rep.Statements++
	r.all |= r.k.TakeRulesNoted() // nothing runs between statements; kept for the run's set
	r.noted = 0
	a := r.actors[st.Actor]
	if a == nil {
		// The statement that makes the actor did not succeed.
		r.rep.Checked++
		r.rep.Failures = append(r.rep.Failures, Failure{Pos: st.Pos.String(), Stmt: strings.Join(strings.Fields(st.Text), " "),
			Expected: check.Expected(st.ExpectFor(r.arch, r.generic, r.k.Config().Version), r.regions), Actual: "not run",
			Note: fmt.Sprintf("actor %s does not exist: the statement making it did not succeed", st.Actor)})
		return nil
	}
	if a.pending != nil {
		_, done := r.result(a.pending)
		switch dead, _ := a.task.Dead(); {
		case !done && a.task.Livelocked():
			// Still in the kernel on its livelocked statement: it
			// runs nothing more until that one gets through.
			r.check(st, livelock)
			return nil
		case done && dead:
			// The statement a wait found livelocked got through and
			// the actor died: this one runs as a dead actor's does,
			// and a later wait still collects that statement.
		default:
			return fmt.Errorf("%s: actor %s is blocked in the statement at %s", st.Pos, st.Actor, a.pending.stmt.Pos)
		}
	}
	call, err := r.prepare(a, st)
	if err != nil {
		var u Unsupported
		if ok := asUnsupported(err, &u); ok {
			return u
		}
		// An unresolvable operand is this statement's failure, not the file's.
		r.rep.Checked++
		r.rep.Failures = append(r.rep.Failures, Failure{Pos: st.Pos.String(), Stmt: strings.Join(strings.Fields(st.Text), " "),
			Expected: check.Expected(st.ExpectFor(r.arch, r.generic, r.k.Config().Version), r.regions), Actual: "not run", Note: err.Error()})
		return nil
	}
	if call == nil {
		return nil // handled inside prepare (wait, caught)
	}
	fl, err := r.dispatch(a, st, call)
	r.noted = r.k.TakeRulesNoted()
	r.all |= r.noted
	if err != nil {
		return err
	}
	r.adoptSpawned()
	out, done := r.result(fl)
	if !done {
		a.pending = fl
		if st.Background {
			r.unchecked(st)
		} else {
			r.check(st, unfinished(a.task))
		}
		return nil
	}
	if !st.Background {
		if err := r.unmodeled(st, out); err != nil {
			return err
		}
		r.check(st, observeFor(st, out))
		r.afterward(st, out)
	} else {
		a.pending = fl
		r.unchecked(st)
	}
	return nil
}

func asUnsupported(err error, u *Unsupported) bool { return errors.As(err, u) }

// unmodeled reports an outcome the model cannot go on from: an exec that
// fetched an instruction other than ret, whose effect the model does not
// emulate (an x86_64 CPU might raise SIGILL, or fault on an operand).
func (r *run) unmodeled(st *scenario.Stmt, out kernel.Outcome) error {
	if _, ok := st.Op.(*scenario.Exec); ok && out.Kind == kernel.OutOK && out.HasValue {
		if b := byte(out.Value); b != r.k.Arch().RetByte() {
			return Unsupported{"exec", fmt.Sprintf("the instruction fetched is %#02x, and the model runs only ret", b)}
		}
	}
	return nil
}

// afterward binds what a successful statement creates.
func (r *run) afterward(st *scenario.Stmt, out kernel.Outcome) {
	if m, ok := st.Op.(*scenario.Mmap); ok && out.Kind == kernel.OutOK {
		r.regions.Bind(m.Name, out.Value, m.Size)
	}
}

// prepare turns a statement into the call its actor makes. It returns
// nil for statements the runner completes itself.
func (r *run) prepare(a *actor, st *scenario.Stmt) (func() kernel.Outcome, error) {
	t := a.task
	switch op := st.Op.(type) {
	case *scenario.Mmap:
		args := kernel.MmapArgs{Length: op.Size, Prot: prot(op.Prot), Shared: op.Shared,
			GrowsDown: op.GrowsDown, Populate: op.Populate, Locked: op.Locked, NoReserve: op.NoReserve,
			Hugetlb: op.Hugetlb, File: op.File, Off: op.Off}
		if op.At != nil {
			at, err := r.addr(*op.At)
			if err != nil {
				return nil, err
			}
			args.Addr, args.Fixed = at, true
		}
		return func() kernel.Outcome { return t.Mmap(args) }, nil
	case *scenario.Munmap:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		return func() kernel.Outcome { return t.Munmap(addr, op.Size) }, nil
	case *scenario.Mprotect:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		return func() kernel.Outcome { return t.Mprotect(addr, op.Size, prot(op.Prot)) }, nil
	case *scenario.Madvise:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		if op.Advice == scenario.AdvHWPoison {
			return func() kernel.Outcome { return t.MadviseHWPoison(addr, op.Size) }, nil
		}
		adv, ok := advices[op.Advice]
		if !ok {
			return nil, Unsupported{"madvise", string(op.Advice)}
		}
		return func() kernel.Outcome { return t.Madvise(addr, op.Size, adv) }, nil
	case *scenario.Rlimit:
		return func() kernel.Outcome { return t.SetStackLimit(op.Size) }, nil
	case *scenario.Read:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		return func() kernel.Outcome { return t.Read(addr) }, nil
	case *scenario.Write:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		v := r.byteVal(op.Value)
		return func() kernel.Outcome { return t.Write(addr, v) }, nil
	case *scenario.Exec:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		return func() kernel.Outcome { return t.Exec(addr) }, nil
	case *scenario.Touch:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		acc := mm.AccessRead
		if op.Access == scenario.AccessWrite {
			acc = mm.AccessWrite
		}
		return func() kernel.Outcome { return t.Touch(addr, op.Size, acc, 0x41) }, nil
	case *scenario.KRead:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		v := r.byteVal(op.Value)
		return func() kernel.Outcome { return t.KRead(addr, op.Size, v) }, nil
	case *scenario.KWrite:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		return func() kernel.Outcome { return t.KWrite(addr, op.Size) }, nil
	case *scenario.KDeref:
		addr, err := r.addr(op.Addr)
		if err != nil {
			return nil, err
		}
		return func() kernel.Outcome { return t.KDeref(addr, op.Write) }, nil
	case *scenario.Thread:
		return r.spawn(op.Name, t.Clone), nil
	case *scenario.Fork:
		return r.spawn(op.Name, t.Fork), nil
	case *scenario.Sigaction:
		act := map[string]kernel.SigAction{scenario.SigCatch: kernel.SigCatch, scenario.SigIgnore: kernel.SigIgnore, scenario.SigDefault: kernel.SigDefault}[op.Action]
		return func() kernel.Outcome { return t.Sigaction(abi.Signal(op.Signal), act) }, nil
	case *scenario.Kill:
		target := r.actors[op.Target]
		if target == nil {
			return nil, fmt.Errorf("%s: actor %s does not exist: the statement making it did not succeed", st.Pos, op.Target)
		}
		return func() kernel.Outcome { return t.Kill(target.task, abi.Signal(op.Signal)) }, nil
	case *scenario.Caught:
		target := r.actors[op.Target]
		if target == nil {
			return nil, fmt.Errorf("%s: actor %s does not exist: the statement making it did not succeed", st.Pos, op.Target)
		}
		r.check(st, check.Observation{Kind: scenario.OutCount, Value: uint64(target.task.Caught(abi.Signal(op.Signal)))})
		return nil, nil
	case *scenario.Faults:
		target := r.actors[op.Target]
		if target == nil {
			return nil, fmt.Errorf("%s: actor %s does not exist: the statement making it did not succeed", st.Pos, op.Target)
		}
		min, maj := target.task.Faults()
		obs := check.Observation{Kind: scenario.OutFaults, Minflt: uint64(min - target.minflt), Majflt: uint64(maj - target.majflt)}
		target.minflt, target.majflt = min, maj
		if st.Expect != nil || len(st.Overrides) > 0 {
			r.check(st, obs)
		} else {
			r.unchecked(st)
		}
		return nil, nil
	case *scenario.Wait:
		target := r.actors[op.Target]
		if target != nil && target.pending == nil {
			// An earlier wait collected its statement (the file lets a
			// later wait follow one that may have found it unfinished):
			// an actor that died is seen dead.
			if dead, sig := target.task.Dead(); dead {
				r.check(st, check.Observation{Kind: scenario.OutKilled, Signal: sig})
				return nil, nil
			}
		}
		if target == nil || target.pending == nil {
			return nil, fmt.Errorf("%s: wait %s: no statement of %s is pending", st.Pos, op.Target, op.Target)
		}
		fl := target.pending
		out, done := r.result(fl)
		if !done {
			r.check(st, unfinished(target.task))
			return nil, nil
		}
		target.pending = nil
		if err := r.unmodeled(fl.stmt, out); err != nil {
			return nil, err
		}
		r.checkOf(st, fl.stmt, observeFor(fl.stmt, out))
		r.afterward(fl.stmt, out)
		return nil, nil
	case *scenario.File:
		fill := r.byteVal(op.Fill)
		return func() kernel.Outcome { return t.CreateFile(op.Name, op.Size, fill) }, nil
	case *scenario.Truncate:
		return func() kernel.Outcome { return t.Truncate(op.Name, op.Size) }, nil
	case *scenario.Evict:
		return func() kernel.Outcome { return t.Evict(op.Name) }, nil
	case *scenario.IO:
		return func() kernel.Outcome { return t.HoldIO(op.Name, op.Hold) }, nil
	case *scenario.Uffd:
		return r.uffd(t, op)
	case *scenario.Hugepages:
		return func() kernel.Outcome { return t.Hugepages(op.N) }, nil
	case *scenario.Memlimit:
		return func() kernel.Outcome { return t.Memlimit(op.Size) }, nil
	}
	return nil, Unsupported{Keyword: st.Op.Keyword()}
}

// uffd returns the call of a userfaultfd statement.
func (r *run) uffd(t *kernel.Task, op *scenario.Uffd) (func() kernel.Outcome, error) {
	if op.Cmd == scenario.UffdEvent {
		return func() kernel.Outcome { return t.UffdEvent(op.Name) }, nil
	}
	addr, err := r.addr(op.Addr)
	if err != nil {
		return nil, err
	}
	switch op.Cmd {
	case scenario.UffdRegister:
		modes := 0
		if op.Missing {
			modes |= memory.UffdMissing
		}
		if op.WP {
			modes |= memory.UffdWP
		}
		if op.Minor {
			modes |= memory.UffdMinor
		}
		return func() kernel.Outcome { return t.UffdRegister(op.Name, addr, op.Size, modes, op.SigBus) }, nil
	case scenario.UffdUnregister:
		return func() kernel.Outcome { return t.UffdUnregister(op.Name, addr, op.Size) }, nil
	case scenario.UffdWake:
		return func() kernel.Outcome { return t.UffdWake(op.Name, addr, op.Size) }, nil
	case scenario.UffdWP:
		return func() kernel.Outcome { return t.UffdWriteProtect(op.Name, addr, op.Size, op.On) }, nil
	}
	mode, fill := memory.FillCopy, r.byteVal(op.Value)
	switch op.Cmd {
	case scenario.UffdZeropage:
		mode = memory.FillZeropage
	case scenario.UffdContinue:
		mode = memory.FillContinue
	case scenario.UffdPoison:
		mode = memory.FillPoison
	}
	return func() kernel.Outcome { return t.UffdFill(op.Name, addr, op.Size, mode, fill) }, nil
}

var advices = map[scenario.Advice]kernel.Advice{
	scenario.AdvDontneed:      kernel.MadvDontneed,
	scenario.AdvPopulateRead:  kernel.MadvPopulateRead,
	scenario.AdvPopulateWrite: kernel.MadvPopulateWrite,
	scenario.AdvGuardInstall:  kernel.MadvGuardInstall,
	scenario.AdvGuardRemove:   kernel.MadvGuardRemove,
	scenario.AdvRandom:        kernel.MadvRandom,
}

// spawn returns the call creating actor name with create (Clone or Fork);
// the new actor exists once the call succeeds.
func (r *run) spawn(name string, create func(string) (*kernel.Task, kernel.Outcome)) func() kernel.Outcome {
	return func() kernel.Outcome {
		nt, out := create(name)
		if nt != nil {
			r.mu.Lock()
			r.spawned = append(r.spawned, spawnRec{name, nt})
			r.mu.Unlock()
		}
		return out
	}
}

type spawnRec struct {
	name string
	task *kernel.Task
}

// SortReports orders reports by file, then by the order of arches, then
// native before generic.
func SortReports(reps []Report) {
	order := map[string]int{}
	for i, a := range machine.Arches() {
		order[a] = i
	}
	sort.SliceStable(reps, func(i, j int) bool {
		if reps[i].File != reps[j].File {
			return reps[i].File < reps[j].File
		}
		if reps[i].Arch != reps[j].Arch {
			return order[reps[i].Arch] < order[reps[j].Arch]
		}
		return reps[i].Handler < reps[j].Handler
	})
}

// describeOutcome names a statement's outcome for its trace phase.
func describeOutcome(o kernel.Outcome) string {
	return check.Observed(observe(o), check.NewRegions(0))
}
