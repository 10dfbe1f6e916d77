//go:build linux

package hostrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/check"
	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

// Options tune a host run.
type Options struct {
	// Scale multiplies every wall-clock safety net of the run (those
	// below, the executor's, the fixed waits); the zero Scale is the
	// context's (timeout.FromContext), else FAULTLINE_TIMEOUT_SCALE's.
	Scale timeout.Scale
	// BlockAfter is used only where the kernel hides where a thread
	// sleeps (Host.Wchan false): how long a statement's thread must
	// sleep without answering to count as blocked. 0 means 200ms × Scale.
	BlockAfter time.Duration
	// Limit bounds a statement that is not blocked; past it the run
	// ends as timed out (runner.TimedOut). 0 means DefaultLimit × Scale.
	Limit time.Duration
}

// DefaultLimit is the time a statement that is not blocked may take.
const DefaultLimit = 60 * time.Second

// TimedOutError ends a host run at a wall-clock safety net: a statement
// that neither finished nor blocked within its limit, or a wait of the
// runner's own (a hello, a wait status) that did not end in time. It says
// nothing about the kernel's answers.
type TimedOutError struct {
	What  string // the statement (FILE:L:C: TEXT) or the wait
	Limit time.Duration
}

func (e *TimedOutError) Error() string {
	return fmt.Sprintf("%s: did not end within %v (a safety net: --timeout-scale or %s widens it)", e.What, e.Limit, timeout.EnvVar)
}

// Skip returns why s cannot run on this host, or "" when it can.
func (h *Host) Skip(s *scenario.Scenario) string {
	if len(s.Arches) > 0 && !contains(s.Arches, h.Arch) {
		return fmt.Sprintf("the scenario does not run on %s, the host's architecture", h.Arch)
	}
	for _, n := range append(s.Needs, impliedNeeds(s)...) {
		if why, missing := h.Missing[n]; missing {
			return fmt.Sprintf("needs %s: %s", n, why)
		}
	}
	for _, pin := range s.Config {
		if pin.Key == "epan" && h.Arch != "arm64" {
			continue // an arm64 CPU feature: it changes nothing here
		}
		if pin.Key == "pgtable_levels" && h.Arch != "x86_64" && h.Arch != "riscv64" {
			continue // only x86_64's and riscv64's models read it (LA57, Sv57)
		}
		if !h.Detected[pin.Key] {
			return fmt.Sprintf("config %s=%s is pinned, and the host's value cannot be detected", pin.Key, pin.Value)
		}
		want := h.Config
		if err := want.Set(pin.Key, pin.Value); err != nil {
			return err.Error()
		}
		w, _ := want.Get(pin.Key)
		got, _ := h.Config.Get(pin.Key)
		if w != got {
			return fmt.Sprintf("config %s=%s is pinned; the host has %s=%s", pin.Key, pin.Value, pin.Key, got)
		}
	}
	for _, st := range s.Body {
		switch op := st.Op.(type) {
		case *scenario.KDeref:
			return fmt.Sprintf("model-only statement kderef (%s)", st.Pos)
		case *scenario.IO:
			return fmt.Sprintf("model-only statement io (%s)", st.Pos)
		case *scenario.Madvise:
			// Without CONFIG_MEMORY_FAILURE the advice is EINVAL for
			// anyone (madvise_behavior_valid), which is safe to check;
			// with it, only root may inject.
			if op.Advice == scenario.AdvHWPoison && h.Config.MemoryFailure && !h.Root {
				return fmt.Sprintf("madvise hwpoison needs root (%s)", st.Pos)
			}
		}
		if o := st.ExpectFor(h.Arch, false, h.Config.Version); o != nil && (o.Kind == scenario.OutOops || o.Kind == scenario.OutLivelock) {
			return fmt.Sprintf("model-only outcome %s (%s)", map[scenario.OutcomeKind]string{scenario.OutOops: "oops", scenario.OutLivelock: "livelock"}[o.Kind], st.Pos)
		}
	}
	return ""
}

// impliedNeeds lists the host features s's statements use, whether or not
// its header says `needs`: a scenario that forgot one is skipped for the
// reason, not run into an error the host cannot help.
func impliedNeeds(s *scenario.Scenario) []string {
	var needs []string
	add := func(n string) {
		if !contains(needs, n) {
			needs = append(needs, n)
		}
	}
	for _, st := range s.Body {
		switch op := st.Op.(type) {
		case *scenario.Memlimit:
			add("memcg")
			// A limit refused where it cannot be met is cgroup v1's
			// answer (EBUSY); v2 reclaims, then OOM-kills.
			for _, o := range append([]*scenario.Outcome{st.Expect}, overrides(st)...) {
				if o != nil && o.Kind == scenario.OutErrno {
					add("memcg-v1")
				}
			}
		case *scenario.Hugepages:
			add("hugetlb")
		case *scenario.Mmap:
			if op.Hugetlb {
				add("hugetlb")
			}
		case *scenario.Madvise:
			if op.Advice == scenario.AdvGuardInstall || op.Advice == scenario.AdvGuardRemove {
				add("guard")
			}
		case *scenario.Uffd:
			add("uffd")
			switch {
			case op.Cmd == scenario.UffdWP || op.Cmd == scenario.UffdRegister && op.WP:
				add("uffd-wp")
			case op.Cmd == scenario.UffdPoison:
				add("uffd-poison")
			}
			if op.Cmd == scenario.UffdRegister && op.Minor {
				add("uffd-minor")
			}
		}
	}
	return needs
}

// overrides lists st's per-arch and generic expectations.
func overrides(st *scenario.Stmt) []*scenario.Outcome {
	out := make([]*scenario.Outcome, 0, len(st.Overrides))
	for _, o := range st.Overrides {
		out = append(out, o)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Run runs s on the host kernel. The caller checks Skip first.
func (h *Host) Run(ctx context.Context, s *scenario.Scenario, opts Options) runner.Report {
	start := time.Now()
	rep := runner.Report{Scenario: s.Name, File: s.Pos.File, Arch: h.Arch}
	if opts.Scale == 0 {
		opts.Scale = timeout.FromContext(ctx)
	}
	ctx = timeout.WithScale(ctx, opts.Scale) // the executor's own bounds
	if opts.BlockAfter == 0 {
		opts.BlockAfter = opts.Scale.Of(200 * time.Millisecond)
	}
	if opts.Limit == 0 {
		opts.Limit = opts.Scale.Of(DefaultLimit)
	}
	r := &hrun{h: h, s: s, rep: &rep, opts: opts, actors: map[string]*hactor{}, uffds: map[string]bool{}}
	ret := host.RetInsn(h.Arch)
	if len(ret) == 0 {
		rep.Status, rep.Reason = runner.Error, fmt.Sprintf("the executor knows no return instruction for arch %s", h.Arch)
		return rep
	}
	// Reads of a `ret` see the instruction's first byte, as on the model.
	r.regions = check.NewRegions(ret[0])
	if err := r.start(ctx); err != nil {
		rep.Status, rep.Reason = statusOf(err), err.Error()
		return rep
	}
	defer func() {
		r.teardown()
		if h.Ahead && ctx.Err() == nil {
			h.startSpare(opts.Scale)
		}
	}()
	// Cancelling ctx (SIGINT, SIGTERM) kills the executor at once, so that
	// a statement waiting on it ends now; the loop then stops, and the
	// teardown undoes what the run changed.
	stop := context.AfterFunc(ctx, func() { r.ex.Close() })
	defer stop()
	for i, st := range s.Body {
		if ctx.Err() != nil {
			rep.Status, rep.Reason = runner.Error, "interrupted: "+context.Cause(ctx).Error()
			rep.Duration = time.Since(start)
			return rep
		}
		r.index = i
		rep.Statements++
		if err := r.step(st); err != nil {
			rep.Status, rep.Reason = statusOf(err), err.Error()
			if ctx.Err() != nil {
				rep.Status, rep.Reason = runner.Error, "interrupted: "+context.Cause(ctx).Error()
			}
			rep.Duration = time.Since(start)
			return rep
		}
	}
	if len(rep.Failures) > 0 {
		rep.Status = runner.Fail
	}
	rep.Duration = time.Since(start)
	return rep
}

// statusOf is the status of a run that err ended: TimedOut for a safety
// net, else Error.
func statusOf(err error) runner.Status {
	var to *TimedOutError
	if errors.As(err, &to) {
		return runner.TimedOut
	}
	return runner.Error
}

// bound scales a fixed wait of the runner.
func (r *hrun) bound(d time.Duration) time.Duration { return r.opts.Scale.Of(d) }

// hactor is one actor of a host run.
type hactor struct {
	name    string
	a       *host.Actor
	slot    int
	pending *hpending // a statement started and not yet waited for
	deadSig abi.Signal
	gone    bool
	// minflt and majflt are the thread's counts at its last faults
	// statement, or when it was made ready (its thread or fork).
	minflt, majflt uint64
	// loop is what the runner has seen of the thread re-faulting in a
	// userfaultfd retry loop (userfaultLoop), kept from one wait on it
	// to the next.
	loop userfaultLoop
}

// hpending is a statement in flight.
type hpending struct {
	stmt  *scenario.Stmt
	index int
	bind  func(host.Reply) // what a success binds (mmap's region)
	kind  cmdKind
	done  bool // a background statement that finished at once
	obs   check.Observation
}

// cmdKind says how a reply becomes an observation.
type cmdKind int

const (
	kindPlain cmdKind = iota // ok, err or sig; values dropped
	kindValue                // ok carries the outcome's value (read, kread, kwrite)
	kindEvent                // a userfaultfd event
)

type hrun struct {
	h       *Host
	s       *scenario.Scenario
	rep     *runner.Report
	opts    Options
	ex      *host.Executor
	regions *check.Regions
	actors  map[string]*hactor
	uffds   map[string]bool // handles opened, by process and name
	index   int
	slots   int

	cgroup      string
	hugeRestore string // nr_hugepages before the run; "" when untouched
	hugeInUse   int64  // huge pages in use by others when the run began
	hugeState   string // the state file recording hugeRestore, or ""
}

func (r *hrun) start(ctx context.Context) error {
	if ex, main, ok := r.h.takeSpare(r.opts.Scale); ok {
		r.ex = ex
		r.actors["main"] = &hactor{name: "main", a: main}
		r.slots = 1
		return nil
	}
	ex, err := host.Start(ctx, r.h.bin)
	if errors.Is(err, context.DeadlineExceeded) {
		return &TimedOutError{What: "starting the executor: " + err.Error(), Limit: r.bound(10 * time.Second)}
	}
	if err != nil {
		return fmt.Errorf("starting the executor: %w", err)
	}
	r.ex = ex
	a, err := ex.Actor("main", r.bound(5*time.Second))
	if err != nil {
		return &TimedOutError{What: "actor main's hello: " + err.Error(), Limit: r.bound(5 * time.Second)}
	}
	r.actors["main"] = &hactor{name: "main", a: a}
	r.slots = 1
	return nil
}

func (r *hrun) teardown() {
	r.ex.Close()
	if r.cgroup != "" {
		// The killed processes leave the group asynchronously.
		settle(r.bound(time.Second), func() bool {
			err := os.Remove(r.cgroup)
			return err == nil || errors.Is(err, os.ErrNotExist)
		})
	}
	if r.hugeRestore != "" {
		// A killed process frees its huge pages on its way out, after
		// Close has returned: wait for them, so that the next run's pool
		// starts with none in use.
		settle(r.bound(hugeSettle), func() bool { return hugeInUse() <= r.hugeInUse })
		if writeControl("/proc/sys/vm/nr_hugepages", []byte(r.hugeRestore)) == nil && r.hugeState != "" {
			os.Remove(r.hugeState)
		}
	}
}

// record checks obs against st's expectation on the host's arch.
func (r *hrun) record(st *scenario.Stmt, index int, obs check.Observation) {
	r.recordOf(st, st, index, obs)
}

// recordOf is record of the outcome of origin: st itself, or the
// statement a wait collects.
func (r *hrun) recordOf(st, origin *scenario.Stmt, index int, obs check.Observation) {
	r.rep.Checked++
	want := st.ExpectFor(r.h.Arch, false, r.h.Config.Version)
	ok, note := check.Match(want, obs, r.regions)
	text := strings.Join(strings.Fields(st.Text), " ")
	written, exact := check.Writable(st, origin, want, obs, r.regions)
	r.rep.Steps = append(r.rep.Steps, runner.Step{Index: index, Pos: st.Pos.String(), Stmt: text,
		Checked: true, OK: ok, Expected: check.Expected(want, r.regions), Observed: check.Symbolic(obs, r.regions),
		Written: written, Exact: exact})
	if !ok {
		r.rep.Failures = append(r.rep.Failures, runner.Failure{Pos: st.Pos.String(), Stmt: text,
			Expected: check.Expected(want, r.regions), Actual: check.Observed(obs, r.regions), Note: note})
	}
}

// threadFaults reads a thread's minor and major fault counts
// (/proc/PID/task/TID/stat fields 10 and 12, as getrusage(RUSAGE_THREAD)
// reports them).
func threadFaults(pid, tid int) (minflt, majflt uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 10 {
		return 0, 0, false
	}
	min, err1 := strconv.ParseUint(f[7], 10, 64)
	maj, err2 := strconv.ParseUint(f[9], 10, 64)
	return min, maj, err1 == nil && err2 == nil
}

// taskStatus is what /proc/PID/task/TID/status says of a thread's
// scheduling: its state letter ('R', 'S', 'D', 'T', ...) and its counts
// of voluntary context switches (it called schedule() to wait, and
// another task ran) and involuntary ones (it was preempted).
type taskStatus struct {
	state         byte
	nvcsw, nivcsw uint64
}

// readTaskStatus reads a thread's status; ok is false when it is gone.
func readTaskStatus(pid, tid int) (st taskStatus, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return st, false
	}
	var haveState, haveSwitches, haveInvol bool
	for _, line := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if v != "" {
				st.state, haveState = v[0], true
			}
		case "voluntary_ctxt_switches":
			n, err := strconv.ParseUint(v, 10, 64)
			st.nvcsw, haveSwitches = n, err == nil
		case "nonvoluntary_ctxt_switches":
			n, err := strconv.ParseUint(v, 10, 64)
			st.nivcsw, haveInvol = n, err == nil
		}
	}
	return st, haveState && haveSwitches && haveInvol
}

// readWchan returns where the thread sleeps, as the kernel names it
// (/proc/PID/task/TID/wchan: a function, or "0" when it runs or the kernel
// hides it).
func readWchan(pid, tid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/wchan", pid, tid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// waitsForScenario reports whether a sleep in w is one that only a later
// statement can end: a userfaultfd wait (handle_userfault, Linux 6.18
// fs/userfaultfd.c), or, for an event read, the executor's poll of the
// userfaultfd (do_poll sleeps in poll_schedule_timeout).
func waitsForScenario(w string, eventRead bool) bool {
	return strings.Contains(w, "handle_userfault") || eventRead && strings.Contains(w, "poll")
}

// kernelBlocked reports whether the kernel's own state shows the thread
// blocked: stopped (T, t), or asleep (S, D) where waitsForScenario says.
// The state is read twice around the wait channel, and must be the same
// sleep both times (the voluntary switch count unchanged): a thread that
// woke and slept again in between is not taken for one that never woke.
// No time passes into the decision.
func kernelBlocked(pid, tid int, eventRead bool) bool {
	first, ok := readTaskStatus(pid, tid)
	if !ok {
		return false
	}
	switch first.state {
	case 'T', 't':
	case 'S', 'D':
		if !waitsForScenario(readWchan(pid, tid), eventRead) {
			return false
		}
	default:
		return false
	}
	again, ok := readTaskStatus(pid, tid)
	return ok && again == first
}

// loopState is what the kernel accounts of a thread that may be spinning
// in the kernel: its user and system time (clock ticks,
// /proc/PID/task/TID/stat), the time it has run (nanoseconds,
// /proc/PID/task/TID/schedstat, where CONFIG_SCHED_INFO provides it), its
// completed faults, and the caught signals pending for it and not blocked
// (/proc/PID/task/TID/status).
type loopState struct {
	utime, stime   uint64
	runtime        uint64
	haveRuntime    bool
	minflt, majflt uint64
	pending        uint64
}

// readLoopState reads a thread's loopState; ok is false when it is gone.
func readLoopState(pid, tid int) (ls loopState, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return ls, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ls, false
	}
	f := strings.Fields(s[i+1:]) // from field 3, the state
	if len(f) < 13 {
		return ls, false
	}
	var errs [4]error
	ls.minflt, errs[0] = strconv.ParseUint(f[10-3], 10, 64)
	ls.majflt, errs[1] = strconv.ParseUint(f[12-3], 10, 64)
	ls.utime, errs[2] = strconv.ParseUint(f[14-3], 10, 64)
	ls.stime, errs[3] = strconv.ParseUint(f[15-3], 10, 64)
	if errors.Join(errs[:]...) != nil {
		return ls, false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return ls, false
	}
	masks := map[string]uint64{}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, found := strings.Cut(line, ":")
		if found && (k == "SigPnd" || k == "ShdPnd" || k == "SigBlk" || k == "SigCgt") {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return ls, false
			}
			masks[k] = m
		}
	}
	ls.pending = (masks["SigPnd"] | masks["ShdPnd"]) & masks["SigCgt"] &^ masks["SigBlk"]
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid)); err == nil {
		// sum_exec_runtime, the run delay, the count of timeslices.
		if f := strings.Fields(string(b)); len(f) > 0 {
			ls.runtime, err = strconv.ParseUint(f[0], 10, 64)
			ls.haveRuntime = err == nil
		}
	}
	return ls, true
}

// loopCPU is how much CPU time a thread must spend in the kernel, a
// caught signal pending all along, to be in a userfaultLoop: time the
// thread itself ran, not wall-clock time, so a loaded machine only makes
// the decision later, never different. A woken kernel copy completes its
// fault and returns to user mode in microseconds; 50 ms is thousands of
// times that.
const loopCPU = 50 * time.Millisecond

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every architecture Linux supports).
const clockTick = 10 * time.Millisecond

// userfaultLoop tells a thread that keeps re-entering a userfaultfd wait
// without ever sleeping there: a kernel copy (copy_to_user in read(2))
// faulting on a missing page with a caught signal pending, which Linux
// 6.18 retries at once, in a loop, until the page arrives (handle_userfault
// sleeps interruptibly, the pending signal ends each sleep at once, and
// only a fatal signal ends a kernel-mode fault: do_user_addr_fault's
// retry). The thread stays runnable, so kernelBlocked cannot see it. What
// shows it is the kernel's accounting: the thread runs for loopCPU
// (schedstat's precise runtime; stime's ticks where the kernel has no
// schedstat) without returning to user mode (no user time, and the caught
// signal still pending: it is delivered on the way there) and without
// completing a fault.
type userfaultLoop struct {
	base loopState
	set  bool
	cpu  time.Duration // the CPU time it takes; 0 is loopCPU
}

// newUserfaultLoop is a userfaultLoop whose loopCPU is multiplied by
// scale: on a CPU 10–50× slower (software emulation) a copy that
// progresses also spends longer in the kernel between completed faults.
func newUserfaultLoop(scale timeout.Scale) userfaultLoop {
	return userfaultLoop{cpu: scale.Of(loopCPU)}
}

// looping takes one reading of act's thread, adding to what act's
// userfaultLoop has seen of it.
func (r *hrun) looping(act *hactor) bool {
	if act.loop.cpu == 0 {
		act.loop = newUserfaultLoop(r.opts.Scale)
	}
	pid, tid := act.a.PID, act.a.TID
	return act.loop.take(func() (loopState, bool) { return readLoopState(pid, tid) })
}

// take is looping with the reading made by read.
func (l *userfaultLoop) take(read func() (loopState, bool)) bool {
	r, ok := read()
	if !ok || r.pending == 0 {
		l.set = false
		return false
	}
	b := l.base
	if !l.set || r.utime != b.utime || r.minflt != b.minflt || r.majflt != b.majflt || r.pending&b.pending == 0 {
		l.base, l.set = r, true
		return false
	}
	need := l.cpu
	if need == 0 {
		need = loopCPU
	}
	return r.ranSince(b) >= need
}

// ranSince is the CPU time the thread ran between reading b and ls.
func (ls loopState) ranSince(b loopState) time.Duration {
	if ls.haveRuntime && b.haveRuntime {
		return time.Duration(ls.runtime - b.runtime)
	}
	return time.Duration(ls.stime-b.stime) * clockTick
}

// await waits for the reply to the command in flight of statement p on
// act. It ends with the reply (or ErrGone); with ErrPending, blocked, when
// the kernel shows the thread blocked (kernelBlocked, or a
// userfaultLoop); or, past the statement's limit, with a *TimedOutError.
// It looks at the thread on a backoff (see firstLook), so a thread that
// blocks at once is seen blocked at once; the reply itself ends a look as
// it comes. Where the kernel hides where threads sleep (Host.Wchan
// false), blocked is a guess instead: asleep, on anything, or stopped,
// without answering, for BlockAfter (so a slow sleep there may be taken
// for a blocked one).
func (r *hrun) await(act *hactor, p *hpending) (host.Reply, error) {
	deadline := time.Now().Add(r.opts.Limit)
	eventRead := p.kind == kindEvent
	var asleepSince time.Time
	var b backoff
	for {
		rep, err := act.a.Reply(b.step())
		if !errors.Is(err, host.ErrPending) {
			return rep, err
		}
		pid, tid := act.a.PID, act.a.TID
		if r.h.Wchan {
			if kernelBlocked(pid, tid, eventRead) || r.looping(act) {
				return host.Reply{}, host.ErrPending
			}
		} else if r.looping(act) {
			// The re-fault loop never sleeps, wchan or not.
			return host.Reply{}, host.ErrPending
		} else {
			now := time.Now()
			switch st, _ := readTaskStatus(pid, tid); st.state {
			case 'T', 't', 'S', 'D':
				if asleepSince.IsZero() {
					asleepSince = now
				} else if now.Sub(asleepSince) >= r.opts.BlockAfter {
					return host.Reply{}, host.ErrPending
				}
			default:
				asleepSince = time.Time{}
			}
		}
		if time.Now().After(deadline) {
			return host.Reply{}, &TimedOutError{What: fmt.Sprintf("%s: %s", p.stmt.Pos, strings.Join(strings.Fields(p.stmt.Text), " ")), Limit: r.opts.Limit}
		}
	}
}

// killedBy returns the signal that ended act's process.
func (r *hrun) killedBy(act *hactor) (abi.Signal, error) {
	if act.deadSig != 0 {
		return act.deadSig, nil
	}
	st, ok := r.ex.ExitStatus(act.a.PID, r.bound(3*time.Second))
	if !ok {
		return 0, &TimedOutError{What: fmt.Sprintf("the wait status of actor %s's process %d, whose connection ended", act.name, act.a.PID), Limit: r.bound(3 * time.Second)}
	}
	if !st.Signaled() {
		return 0, fmt.Errorf("actor %s's process %d exited with status %d instead of being killed", act.name, act.a.PID, st.ExitStatus())
	}
	act.deadSig = abi.Signal(st.Signal())
	act.gone = true
	return act.deadSig, nil
}

// observe turns a reply into an observation.
func observe(rep host.Reply, kind cmdKind) check.Observation {
	switch rep.Kind {
	case "ok":
		if kind == kindValue && len(rep.Vals) > 0 {
			return check.Observation{Kind: scenario.OutOK, HasValue: true, Value: rep.Vals[0]}
		}
		return check.Observation{Kind: scenario.OutOK}
	case "err":
		if kind == kindEvent && abi.Errno(rep.Errno) == abi.ETIMEDOUT {
			// The executor reads events with the statement's limit: an
			// empty queue until then is a read that blocks.
			return blocked
		}
		return check.Observation{Kind: scenario.OutErrno, Errno: abi.Errno(rep.Errno)}
	case "sig":
		return check.Observation{Kind: scenario.OutSignal, Signal: abi.Signal(rep.Signo), Code: abi.Code(rep.Code), Addr: rep.Addr, LSB: rep.LSB}
	case "event":
		return check.Observation{Kind: scenario.OutFault, Addr: rep.Addr,
			Write: rep.Flags&uffdPagefaultWrite != 0, WP: rep.Flags&uffdPagefaultWP != 0, Minor: rep.Flags&uffdPagefaultMinor != 0}
	}
	return check.Observation{Kind: scenario.OutErrno, Errno: abi.EINVAL}
}

var blocked = check.Observation{Kind: scenario.OutBlocked}

// finish turns a command's end into the statement's observation; it also
// binds what a success creates.
func (r *hrun) finish(act *hactor, p *hpending, rep host.Reply, err error) (check.Observation, bool, error) {
	switch {
	case errors.Is(err, host.ErrPending):
		return blocked, false, nil
	case errors.Is(err, host.ErrGone):
		sig, kerr := r.killedBy(act)
		if kerr != nil {
			return check.Observation{}, true, kerr
		}
		return check.Observation{Kind: scenario.OutKilled, Signal: sig}, true, nil
	case err != nil:
		return check.Observation{}, true, err
	case rep.Kind == "proto":
		return check.Observation{}, true, fmt.Errorf("%s: the executor did not understand the command: %s", p.stmt.Pos, rep.Text)
	}
	if rep.Kind == "ok" && p.bind != nil {
		p.bind(rep)
	}
	return observe(rep, p.kind), true, nil
}

// send runs cmd as act for statement st and checks or parks its outcome.
func (r *hrun) send(act *hactor, st *scenario.Stmt, cmd string, p *hpending) error {
	p.stmt, p.index = st, r.index
	if act.gone {
		sig, err := r.killedBy(act)
		if err != nil {
			return err
		}
		r.record(st, r.index, check.Observation{Kind: scenario.OutKilled, Signal: sig})
		return nil
	}
	rep, err := act.a.Do(cmd, firstLook) // most commands answer at once
	if errors.Is(err, host.ErrPending) {
		rep, err = r.await(act, p)
	}
	obs, done, err := r.finish(act, p, rep, err)
	if err != nil {
		return err
	}
	if !done {
		act.pending = p
		if !st.Background {
			r.record(st, r.index, blocked)
		}
		return nil
	}
	if obs.Kind == scenario.OutKilled {
		act.gone = true
		if act.deadSig == 0 {
			act.deadSig = obs.Signal
		}
	}
	if st.Background {
		p.done, p.obs = true, obs
		act.pending = p
		return nil
	}
	r.record(st, r.index, obs)
	return nil
}
