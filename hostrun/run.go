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
)

// Options tune a host run.
type Options struct {
	// BlockAfter is how long a statement's thread must sleep in the
	// kernel, without answering, to count as blocked. 0 means 200ms.
	BlockAfter time.Duration
	// Limit bounds any statement; past it the statement counts as
	// blocked. 0 means 3s.
	Limit time.Duration
}

// Skip returns why s cannot run on this host, or "" when it can.
func (h *Host) Skip(s *scenario.Scenario) string {
	if len(s.Arches) > 0 && !contains(s.Arches, h.Arch) {
		return fmt.Sprintf("the scenario does not run on %s, the host's architecture", h.Arch)
	}
	for _, n := range s.Needs {
		if why, missing := h.Missing[n]; missing {
			return fmt.Sprintf("needs %s: %s", n, why)
		}
	}
	for _, pin := range s.Config {
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
		if o := st.ExpectFor(h.Arch); o != nil && (o.Kind == scenario.OutOops || o.Kind == scenario.OutLivelock) {
			return fmt.Sprintf("model-only outcome %s (%s)", map[scenario.OutcomeKind]string{scenario.OutOops: "oops", scenario.OutLivelock: "livelock"}[o.Kind], st.Pos)
		}
	}
	return ""
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
	if opts.BlockAfter == 0 {
		opts.BlockAfter = 200 * time.Millisecond
	}
	if opts.Limit == 0 {
		opts.Limit = 3 * time.Second
	}
	r := &hrun{h: h, s: s, rep: &rep, opts: opts, actors: map[string]*hactor{}, uffds: map[string]bool{}}
	r.regions = check.NewRegions(0xc3)
	if err := r.start(ctx); err != nil {
		rep.Status, rep.Reason = runner.Error, err.Error()
		return rep
	}
	defer r.teardown()
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
			rep.Status, rep.Reason = runner.Error, err.Error()
			if ctx.Err() != nil {
				rep.Reason = "interrupted: " + context.Cause(ctx).Error()
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
	ex, err := host.Start(ctx, r.h.bin)
	if err != nil {
		return fmt.Errorf("starting the executor: %w", err)
	}
	r.ex = ex
	a, err := ex.Actor("main", 5*time.Second)
	if err != nil {
		return err
	}
	r.actors["main"] = &hactor{name: "main", a: a}
	r.slots = 1
	return nil
}

func (r *hrun) teardown() {
	r.ex.Close()
	if r.cgroup != "" {
		// The killed processes leave the group asynchronously.
		settle(time.Second, func() bool {
			err := os.Remove(r.cgroup)
			return err == nil || errors.Is(err, os.ErrNotExist)
		})
	}
	if r.hugeRestore != "" {
		// A killed process frees its huge pages on its way out, after
		// Close has returned: wait for them, so that the next run's pool
		// starts with none in use.
		settle(hugeSettle, func() bool { return hugeInUse() <= r.hugeInUse })
		if os.WriteFile("/proc/sys/vm/nr_hugepages", []byte(r.hugeRestore), 0o644) == nil && r.hugeState != "" {
			os.Remove(r.hugeState)
		}
	}
}

// record checks obs against st's expectation on the host's arch.
func (r *hrun) record(st *scenario.Stmt, index int, obs check.Observation) {
	r.rep.Checked++
	want := st.ExpectFor(r.h.Arch)
	ok, note := check.Match(want, obs, r.regions)
	text := strings.Join(strings.Fields(st.Text), " ")
	r.rep.Steps = append(r.rep.Steps, runner.Step{Index: index, Pos: st.Pos.String(), Stmt: text,
		Checked: true, OK: ok, Expected: check.Expected(want, r.regions), Observed: check.Symbolic(obs, r.regions)})
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

// threadState returns the scheduler state letter of a thread ('R', 'S', 'D', ...).
func threadState(pid, tid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	return s[i+2]
}

// mayWaitForever reports whether the thread sleeps where nothing but the
// scenario can wake it: in a userfaultfd wait (handle_userfault), or in
// the executor's poll for a userfaultfd event. Other sleeps, such as I/O
// or write-back under a memory limit, end by themselves and are given the
// whole limit. When the kernel hides where the thread sleeps, any sleep
// may be forever.
func mayWaitForever(pid, tid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/wchan", pid, tid))
	w := strings.TrimSpace(string(b))
	return err != nil || w == "" || w == "0" || strings.Contains(w, "userfault") || strings.Contains(w, "poll")
}

// await waits for the reply to act's command in flight: the reply, or
// blocked once its thread has slept in a userfaultfd wait for BlockAfter
// without answering (or the limit passed), or gone.
func (r *hrun) await(act *hactor, first time.Duration) (host.Reply, error) {
	deadline := time.Now().Add(r.opts.Limit)
	var asleepSince time.Time
	wait := first
	for {
		rep, err := act.a.Reply(wait)
		if !errors.Is(err, host.ErrPending) {
			return rep, err
		}
		wait = 20 * time.Millisecond
		now := time.Now()
		if now.After(deadline) {
			return host.Reply{}, host.ErrPending
		}
		switch threadState(act.a.PID, act.a.TID) {
		case 'T', 't': // stopped: only SIGCONT or SIGKILL goes on
			if asleepSince.IsZero() {
				asleepSince = now
			} else if now.Sub(asleepSince) >= r.opts.BlockAfter {
				return host.Reply{}, host.ErrPending
			}
		case 'S', 'D':
			if asleepSince.IsZero() {
				asleepSince = now
			} else if now.Sub(asleepSince) >= r.opts.BlockAfter && mayWaitForever(act.a.PID, act.a.TID) {
				return host.Reply{}, host.ErrPending
			}
		default:
			asleepSince = time.Time{}
		}
	}
}

// killedBy returns the signal that ended act's process.
func (r *hrun) killedBy(act *hactor) (abi.Signal, error) {
	if act.deadSig != 0 {
		return act.deadSig, nil
	}
	st, ok := r.ex.ExitStatus(act.a.PID, 3*time.Second)
	if !ok {
		return 0, fmt.Errorf("actor %s's process %d ended, but its wait status never came", act.name, act.a.PID)
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
	rep, err := act.a.Do(cmd, 5*time.Millisecond)
	if errors.Is(err, host.ErrPending) {
		rep, err = r.await(act, 20*time.Millisecond)
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
	}
	if st.Background {
		p.done, p.obs = true, obs
		act.pending = p
		return nil
	}
	r.record(st, r.index, obs)
	return nil
}
