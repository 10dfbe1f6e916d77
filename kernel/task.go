package kernel

import (
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
)

// SigAction is what a process does with a signal.
type SigAction int

// Signal dispositions.
const (
	SigDefault SigAction = iota
	SigIgnore
	SigCatch
)

// Process is a thread group: tasks sharing one address space and one set
// of signal dispositions.
type Process struct {
	k      *Kernel
	PID    int
	mm     *mm.MM
	parent *Task // the forking thread, told of exit, stop and continue; nil for the first

	mu      sync.Mutex // the siglock: guards everything below and each task's signal state
	actions [abi.NSig]SigAction
	threads []*Task
	live    int          // threads not yet exited
	exit    abi.Signal   // the fatal signal ending the process (SIGNAL_GROUP_EXIT), or 0
	stopped bool         // a group stop is in effect (SIGNAL_STOP_STOPPED)
	cont    *sched.Event // fires when SIGCONT ends the stop
	uffds   map[string]*memory.Userfaultfd
	memcg   *phys.MemCG // the memory cgroup, or nil for the root; each task keeps a copy
}

// MM returns the address space.
func (p *Process) MM() *mm.MM { return p.mm }

// Exited reports whether every thread has exited.
func (p *Process) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live == 0
}

func (p *Process) anyLive() *Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.threads {
		if !t.dead {
			return t
		}
	}
	return nil
}

// SigInfo is a synchronous fault signal as a handler would see it.
type SigInfo struct {
	Signo abi.Signal
	Code  abi.Code
	Addr  uint64
	LSB   uint8 // si_addr_lsb
	PKey  int   // si_pkey, for SEGV_PKUERR
}

// Task is one thread.
type Task struct {
	k    *Kernel
	proc *Process
	TID  int
	Name string

	// Guarded by proc.mu.
	pending  uint64   // pending signals, a bit per number
	fault    *SigInfo // a forced fault signal not yet delivered
	caught   [abi.NSig]int
	active   bool          // running a call on behalf of its actor
	intr     chan struct{} // closed to interrupt the current sleep
	intrMode sched.Mode
	dead     bool
	death    abi.Signal // what ended the task
	oopsed   bool
	// stuck: a call of the task ended in a livelock, so the task is
	// still in the kernel, repeating the same fault: it never returns to
	// user mode, no signal is delivered to it (not even SIGKILL), and it
	// runs nothing more; only the end of the run (KillAll) ends it.
	stuck bool
	// livelocked: the task's access livelocked and, with
	// Kernel.ResumeLivelocks, it waits for another task's call to try
	// again (spinWait). Read by the runner from other goroutines.
	livelocked atomic.Bool

	minFlt, majFlt atomic.Int64

	// memcg is the process's memory cgroup (nil: the root), copied when
	// the process moves group, so that a fault reads it without a lock.
	memcg atomic.Pointer[phys.MemCG]
	// pcp is the task's cache of free page frames, closed when it exits.
	pcp *phys.Cache
	// vmac is the task's last VMA lookups (the vmacache a task_struct
	// had until 5.17): successive faults in one VMA skip the index.
	// Only the task's own faults use it.
	vmac mm.VMACache

	// The registers of the access in progress, user and kernel mode, as
	// pt_regs live with the task. Used only by the task's own goroutine.
	uregs, kregs Regs

	sleepMu sync.Mutex // guards asleep, woke and waitFlow; taken inside proc.mu and Event locks
	asleep  bool       // the observer was told the task blocked
	woke    bool       // a waker ended the current sleep, maybe before it began
	// waitFlow pairs the current sleep's trace events (0: not traced).
	waitFlow uint64

	// track records the task's fault path (nil: tracing off). Set when
	// the task is made, read only by the task's own goroutine and by
	// its wakers.
	track *trace.Track
}

// Process returns the task's thread group.
func (t *Task) Process() *Process { return t.proc }

// Kernel returns the machine the task runs on.
func (t *Task) Kernel() *Kernel { return t.k }

// MM returns the task's address space (nil for a kernel thread).
func (t *Task) MM() *mm.MM { return t.proc.mm }

// Faulter returns the task as handle_mm_fault takes it.
func (t *Task) Faulter() memory.Faulter { return t }

// FaultContext returns what the generic fault handler reads of the task
// once per fault (fault.Task): MM, VMACache, Faulter and Tracer, in one
// call.
func (t *Task) FaultContext() (*mm.MM, *mm.VMACache, memory.Faulter, *trace.Track) {
	return t.proc.mm, &t.vmac, t, t.track
}

// VMACache returns the task's cache of VMA lookups, for its own faults.
func (t *Task) VMACache() *mm.VMACache { return &t.vmac }

// Faults returns the task's minor and major fault counts.
func (t *Task) Faults() (minor, major int64) { return t.minFlt.Load(), t.majFlt.Load() }

// AccountFault counts a completed fault (memory.Faulter).
func (t *Task) AccountFault(major bool) {
	if major {
		t.majFlt.Add(1)
	} else {
		t.minFlt.Add(1)
	}
}

// Caught returns how many times the task's handler for sig has run.
func (t *Task) Caught(sig abi.Signal) int {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	return t.caught[sig]
}

// Dead reports whether the task has exited, and the signal that ended it.
func (t *Task) Dead() (bool, abi.Signal) {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	return t.dead, t.death
}

func sigBit(s abi.Signal) uint64 { return 1 << uint(s) }

// fatalPendingLocked is fatal_signal_pending. Preconditions: proc.mu.
func (t *Task) fatalPendingLocked() bool {
	return t.proc.exit != 0 || t.pending&sigBit(abi.SIGKILL) != 0
}

// signalPendingLocked is signal_pending. Preconditions: proc.mu.
func (t *Task) signalPendingLocked() bool {
	return t.fatalPendingLocked() || t.pending != 0 || t.fault != nil
}

// SignalPending reports whether any signal is pending (signal_pending).
func (t *Task) SignalPending() bool {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	return t.signalPendingLocked()
}

// FatalSignalPending reports whether the task is being killed
// (fatal_signal_pending).
func (t *Task) FatalSignalPending() bool {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	return t.fatalPendingLocked()
}

// Sleep implements sched.Sleeper for the task: it blocks until ev fires,
// a signal that mode lets through arrives, or the machine shuts down. A
// signal pending already interrupts at once.
func (t *Task) Sleep(ev *sched.Event, mode sched.Mode) bool {
	// An event that fired already (a read the task completed itself
	// before sleeping) is not waited for: the sleep needs no channel for
	// a signal to interrupt it (read before proc.mu: fired stays fired).
	fired := ev.Fired()
	p := t.proc
	p.mu.Lock()
	if t.interruptsLocked(mode) {
		p.mu.Unlock()
		if t.track != nil {
			t.traceNoSleep(mode)
		}
		return ev.Fired()
	}
	flow := t.track.Wait("schedule", mode.String())
	t.sleepMu.Lock()
	t.woke = false // before any waker of this sleep can see the task
	t.waitFlow = flow
	t.sleepMu.Unlock()
	var intr chan struct{} // a signal interrupts the sleep by closing it
	if !fired {
		intr = make(chan struct{})
	}
	t.intr, t.intrMode = intr, mode
	p.mu.Unlock()

	if ev.Wait(t) {
		t.setAsleep()
		select {
		case <-ev.Done():
		case <-intr:
		case <-t.k.stop:
		}
	}
	woken := ev.Cancel(t)
	t.Woken() // no-op when a waker already said so
	p.mu.Lock()
	t.intr = nil
	p.mu.Unlock()
	if flow != 0 {
		how := "woken"
		if !woken {
			how = "interrupted"
		}
		t.track.WaitEnd(flow, how)
	}
	return woken
}

// setAsleep tells the observer the task stopped running, unless a waker
// already ended the sleep: an observer never sees a runnable task as
// blocked, not even for an instant.
func (t *Task) setAsleep() {
	t.k.tick()
	t.sleepMu.Lock()
	if !t.woke {
		t.asleep = true
		if t.k.obs != nil {
			t.k.obs.TaskBlocked(t)
		}
	}
	t.sleepMu.Unlock()
}

// Woken implements sched.Waiter: the task is runnable again. Wakers call
// it before the task can run, so an observer never misses a wake.
func (t *Task) Woken() {
	t.k.tick()
	t.sleepMu.Lock()
	if !t.woke && t.waitFlow != 0 {
		t.track.Woken(t.waitFlow)
		t.waitFlow = 0
	}
	t.woke = true
	if t.asleep {
		t.asleep = false
		if t.k.obs != nil {
			t.k.obs.TaskRunning(t)
		}
	}
	t.sleepMu.Unlock()
}

// interruptsLocked is signal_pending_state. Preconditions: proc.mu.
func (t *Task) interruptsLocked(mode sched.Mode) bool {
	switch mode {
	case sched.Interruptible:
		return t.signalPendingLocked()
	case sched.Killable:
		return t.fatalPendingLocked()
	}
	return false
}

// wakeLocked interrupts the task's sleep if mode allows (signal_wake_up).
// Preconditions: proc.mu.
func (t *Task) wakeLocked() {
	if t.intr != nil && t.interruptsLocked(t.intrMode) {
		t.Woken()
		close(t.intr)
		t.intr = nil
	}
}

// SendSignal sends sig to t (tgkill): a fatal one ends the whole process,
// a caught one runs t's handler at its next return to user mode (at once
// when t is idle in user mode), an ignored one is dropped.
func (t *Task) SendSignal(sig abi.Signal) {
	p := t.proc
	var exited []*Task
	p.mu.Lock()
	if p.exit != 0 || t.dead || sig <= 0 || sig >= abi.NSig {
		p.mu.Unlock()
		return
	}
	act := p.actions[sig]
	def := sig.Default()
	var cont *sched.Event
	stopped := false
	switch {
	case sig == abi.SIGCONT:
		// prepare_signal: SIGCONT resumes a stopped group whatever its
		// disposition, and a handler for it runs too.
		cont = p.continueLocked()
		if act == SigCatch {
			t.pending |= sigBit(sig)
			t.wakeLocked()
			if !t.active {
				t.deliverLocked()
			}
		}
	case def == abi.ActStop && act == SigDefault:
		stopped = !p.stopped
		p.stopLocked()
	case sig == abi.SIGKILL || act == SigDefault && (def == abi.ActTerm || def == abi.ActCore):
		// complete_signal: a fatal signal takes the whole group down.
		p.exit = sig
		for _, th := range p.threads {
			if th.dead {
				continue
			}
			th.pending |= sigBit(abi.SIGKILL)
			th.wakeLocked()
			if !th.active {
				th.exitLocked()
				exited = append(exited, th)
			}
		}
	case act == SigIgnore || act == SigDefault:
		// Ignored, by choice or by default (SIGCHLD, SIGURG, SIGWINCH).
	default:
		t.pending |= sigBit(sig)
		t.wakeLocked()
		if !t.active {
			t.deliverLocked()
		}
	}
	p.mu.Unlock()
	if cont != nil {
		cont.Fire()
	}
	if cont != nil || stopped {
		p.notifyParent() // do_notify_parent_cldstop: CLD_CONTINUED, CLD_STOPPED
	}
	for _, th := range exited {
		th.finishExit()
	}
}

// notifyParent sends SIGCHLD to the parent process, which runs its handler
// if it has one (SIGCHLD is ignored by default). The thread that forked
// takes it, as complete_signal prefers the target thread, or another one
// once it is gone. The model has no SA_NOCLDSTOP: stops and continues are
// reported too.
func (p *Process) notifyParent() {
	t := p.parent
	if t == nil {
		return
	}
	if dead, _ := t.Dead(); dead {
		if t = t.proc.anyLive(); t == nil {
			return
		}
	}
	t.SendSignal(abi.SIGCHLD)
}

// stopLocked starts a group stop (do_signal_stop): every thread stops on
// its way back to user mode, and any interruptible sleep of one ends for
// it; a pending SIGCONT is dropped. Preconditions: proc.mu.
func (p *Process) stopLocked() {
	if !p.stopped {
		p.stopped, p.cont = true, sched.NewEvent()
	}
	for _, th := range p.threads {
		if th.dead {
			continue
		}
		th.pending &^= sigBit(abi.SIGCONT)
		th.pending |= sigBit(abi.SIGSTOP)
		th.wakeLocked()
	}
}

// continueLocked ends a group stop and drops pending stop signals; it
// returns the event to fire once proc.mu is released, or nil when the
// group was not stopped. Preconditions: proc.mu.
func (p *Process) continueLocked() *sched.Event {
	for _, th := range p.threads {
		th.pending &^= sigBit(abi.SIGSTOP) | sigBit(abi.SIGTSTP) | sigBit(abi.SIGTTIN) | sigBit(abi.SIGTTOU)
	}
	if !p.stopped {
		return nil
	}
	p.stopped = false
	return p.cont
}

// waitWhileStoppedLocked keeps the task stopped while its group is
// (TASK_STOPPED, which only SIGKILL or SIGCONT ends). It returns with
// proc.mu held again. Preconditions: proc.mu.
func (t *Task) waitWhileStoppedLocked() {
	p := t.proc
	for p.stopped && !t.fatalPendingLocked() {
		ev := p.cont
		p.mu.Unlock()
		t.Sleep(ev, sched.Killable)
		p.mu.Lock()
	}
}

// finishExit is the part of exiting done without the siglock (exit_mm,
// exit_files, exit_notify): the task drops its address-space reference,
// and the last task of the process closes its userfaultfds, waking every
// fault they held, and tells the parent.
func (t *Task) finishExit() {
	p := t.proc
	p.mm.Put()
	t.pcp.Close() // after exit_mm: the frames it freed go back too
	p.mu.Lock()
	var uffds map[string]*memory.Userfaultfd
	last := p.live == 0
	if last {
		uffds, p.uffds = p.uffds, nil
	}
	p.mu.Unlock()
	for _, u := range uffds {
		u.Release()
	}
	if last {
		p.notifyParent() // do_notify_parent: the exit signal, SIGCHLD
	}
}

// Livelocked reports whether the task is livelocked in an access, waiting
// for something to change (Kernel.ResumeLivelocks): what a scheduler
// watching the tasks reports instead of "blocked".
func (t *Task) Livelocked() bool { return t.livelocked.Load() }

// ForceSigFault queues a synchronous fault signal for the task
// (force_sig_fault): it is delivered when the access returns to user
// mode, before any other signal.
func (t *Task) ForceSigFault(info SigInfo) {
	if t.track.On() {
		t.track.Step("force_sig_fault", describeSigInfo(info))
	}
	t.proc.mu.Lock()
	if t.fault == nil {
		i := info
		t.fault = &i
	}
	t.proc.mu.Unlock()
}

// PendingFault returns the fault signal queued for the task and not yet
// delivered (force_sig_fault's siginfo), if there is one.
func (t *Task) PendingFault() (SigInfo, bool) {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	if t.fault == nil {
		return SigInfo{}, false
	}
	return *t.fault, true
}

// ForceSig queues a synchronous signal with si_code SI_KERNEL and no
// address (force_sig).
func (t *Task) ForceSig(sig abi.Signal) {
	t.ForceSigFault(SigInfo{Signo: sig, Code: abi.SI_KERNEL})
}

// deliverLocked runs the handlers of the pending, caught signals.
// Preconditions: proc.mu; no fatal signal is pending.
func (t *Task) deliverLocked() {
	for s := abi.Signal(1); s < abi.NSig; s++ {
		if t.pending&sigBit(s) == 0 {
			continue
		}
		t.pending &^= sigBit(s)
		if t.proc.actions[s] == SigCatch {
			t.caught[s]++
		}
	}
}

// exitLocked marks t dead with the group's exit signal. The caller drops
// t's address-space reference after releasing proc.mu.
// Preconditions: proc.mu; t is not dead.
func (t *Task) exitLocked() {
	t.dead = true
	t.death = t.proc.exit
	if t.death == 0 {
		t.death = abi.SIGKILL
	}
	t.active = false
	t.proc.live--
}

// SetAction sets the disposition of sig (sigaction). SIGKILL and SIGSTOP
// keep theirs.
func (t *Task) SetAction(sig abi.Signal, act SigAction) abi.Errno {
	if sig <= 0 || sig >= abi.NSig || !sig.Catchable() {
		return abi.EINVAL
	}
	t.proc.mu.Lock()
	t.proc.actions[sig] = act
	if act == SigIgnore {
		for _, th := range t.proc.threads {
			th.pending &^= sigBit(sig)
		}
	}
	t.proc.mu.Unlock()
	return 0
}
