package kernel_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/sched"
)

// TestSignalDispositions sends one signal to an idle task under each
// disposition.
func TestSignalDispositions(t *testing.T) {
	tests := []struct {
		name   string
		sig    abi.Signal
		act    *kernel.SigAction // nil: leave the default
		sends  int
		caught int
		death  abi.Signal // 0: the task lives
	}{
		{"caught SIGUSR1 runs the handler at once", abi.SIGUSR1, ptr(kernel.SigCatch), 1, 1, 0},
		{"caught twice", abi.SIGUSR2, ptr(kernel.SigCatch), 2, 2, 0},
		{"caught SIGSEGV", abi.SIGSEGV, ptr(kernel.SigCatch), 1, 1, 0},
		{"ignored SIGUSR1", abi.SIGUSR1, ptr(kernel.SigIgnore), 1, 0, 0},
		{"ignored SIGTERM", abi.SIGTERM, ptr(kernel.SigIgnore), 3, 0, 0},
		{"default SIGUSR1 kills with SIGUSR1", abi.SIGUSR1, nil, 1, 0, abi.SIGUSR1},
		{"default SIGTERM", abi.SIGTERM, nil, 1, 0, abi.SIGTERM},
		{"default SIGSEGV (core)", abi.SIGSEGV, nil, 1, 0, abi.SIGSEGV},
		{"default SIGCHLD is ignored", abi.SIGCHLD, nil, 1, 0, 0},
		{"default SIGWINCH is ignored", abi.SIGWINCH, nil, 1, 0, 0},
		{"explicit default", abi.SIGUSR2, ptr(kernel.SigDefault), 1, 0, abi.SIGUSR2},
		{"SIGKILL", abi.SIGKILL, nil, 1, 0, abi.SIGKILL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := machine(t)
			if tc.act != nil {
				wantOK(t, "sigaction", task.Sigaction(tc.sig, *tc.act))
			}
			for i := 0; i < tc.sends; i++ {
				task.SendSignal(tc.sig)
			}
			if got := task.Caught(tc.sig); got != tc.caught {
				t.Errorf("Caught(%v) = %d, want %d", tc.sig, got, tc.caught)
			}
			if tc.death == 0 {
				wantAlive(t, task)
				if task.SignalPending() {
					t.Error("a signal is left pending on an idle task")
				}
				wantOK(t, "a later call", task.SetStackLimit(1<<20))
				return
			}
			wantDead(t, task, tc.death)
			if !task.Process().Exited() {
				t.Error("the process has not exited")
			}
			if out := task.SetStackLimit(1 << 20); out.Kind != kernel.OutKilled || out.Signal != tc.death {
				t.Errorf("a call after death = %v, want killed %v", out, tc.death)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSetActionRefuses(t *testing.T) {
	_, task := machine(t)
	for _, sig := range []abi.Signal{abi.SIGKILL, abi.SIGSTOP, 0, -1, abi.NSig, 100} {
		for _, act := range []kernel.SigAction{kernel.SigCatch, kernel.SigIgnore, kernel.SigDefault} {
			if err := task.SetAction(sig, act); err != abi.EINVAL {
				t.Errorf("SetAction(%v, %d) = %v, want EINVAL", sig, act, err)
			}
		}
	}
	wantErrno(t, "sigaction(SIGKILL)", task.Sigaction(abi.SIGKILL, kernel.SigIgnore), abi.EINVAL)
	// SIGKILL still kills after the refused attempts.
	task.SendSignal(abi.SIGKILL)
	wantDead(t, task, abi.SIGKILL)
}

// TestSignalOutOfRange: signals outside 1..NSig-1 do nothing.
func TestSignalOutOfRange(t *testing.T) {
	_, task := machine(t)
	for _, sig := range []abi.Signal{0, -3, abi.NSig, 64} {
		task.SendSignal(sig)
		wantErrno(t, "kill", task.Kill(task, sig), abi.EINVAL)
	}
	wantAlive(t, task)
}

// TestSIGKILLThreadGroup: SIGKILL to one thread ends every thread of its
// process and no other process, and frees the address space.
func TestSIGKILLThreadGroup(t *testing.T) {
	for _, target := range []int{0, 1, 2} {
		k, t1 := machine(t)
		addr := mmap(t, t1, kernel.MmapArgs{Length: 4 * pg, Prot: rw, Populate: true})
		t2, out := t1.Clone("t2")
		wantOK(t, "clone", out)
		t3, out := t1.Clone("t3")
		wantOK(t, "clone", out)
		other := k.Spawn("other")
		mmap(t, other, kernel.MmapArgs{Length: pg, Prot: rw, Populate: true})
		if got := k.Phys().Stats().InUse; got != 5 {
			t.Fatalf("pages in use %d, want 5", got)
		}
		threads := []*kernel.Task{t1, t2, t3}
		wantOK(t, "kill", other.Kill(threads[target], abi.SIGKILL))
		for _, th := range threads {
			wantDead(t, th, abi.SIGKILL)
			if out := th.Read(addr); out.Kind != kernel.OutKilled || out.Signal != abi.SIGKILL {
				t.Errorf("%s: read after death = %v", th.Name, out)
			}
		}
		if !t1.Process().Exited() {
			t.Error("the process has not exited")
		}
		wantAlive(t, other)
		if other.Process().Exited() {
			t.Error("the other process exited")
		}
		if got := k.Phys().Stats().InUse; got != 1 {
			t.Errorf("pages in use %d after the process died, want the other process's 1", got)
		}
		if _, out := t1.Clone("late"); out.Kind != kernel.OutKilled {
			t.Errorf("clone of a dead process = %v", out)
		}
	}
}

// TestFatalDefaultSignalThreadGroup: a fatal default signal ends the
// whole group with that signal.
func TestFatalDefaultSignalThreadGroup(t *testing.T) {
	_, t1 := machine(t)
	t2, _ := t1.Clone("t2")
	t2.SendSignal(abi.SIGUSR1)
	wantDead(t, t1, abi.SIGUSR1)
	wantDead(t, t2, abi.SIGUSR1)
	// A second fatal signal does not change the cause.
	t1.SendSignal(abi.SIGKILL)
	wantDead(t, t1, abi.SIGUSR1)
}

// TestForkSignals: a fork child inherits the dispositions but is its own
// process.
func TestForkSignals(t *testing.T) {
	k, parent := machine(t)
	wantOK(t, "sigaction", parent.Sigaction(abi.SIGUSR1, kernel.SigCatch))
	child, out := parent.Fork("child")
	wantOK(t, "fork", out)
	child.SendSignal(abi.SIGUSR1)
	wantAlive(t, child)
	if child.Caught(abi.SIGUSR1) != 1 || parent.Caught(abi.SIGUSR1) != 0 {
		t.Errorf("caught: child %d parent %d", child.Caught(abi.SIGUSR1), parent.Caught(abi.SIGUSR1))
	}
	wantOK(t, "sigaction", child.Sigaction(abi.SIGUSR2, kernel.SigIgnore))
	parent.SendSignal(abi.SIGUSR2) // default in the parent: fatal
	wantDead(t, parent, abi.SIGUSR2)
	wantAlive(t, child)
	child.SendSignal(abi.SIGUSR2)
	wantAlive(t, child)
	k.KillAll()
	wantDead(t, child, abi.SIGKILL)
}

// sleepResult runs task.Sleep in a goroutine.
func sleepResult(task *kernel.Task, ev *sched.Event, mode sched.Mode) <-chan bool {
	res := make(chan bool, 1)
	go func() { res <- task.Sleep(ev, mode) }()
	return res
}

func recvBool(t *testing.T, ch <-chan bool) bool {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatal("Sleep never returned")
		return false
	}
}

// TestSleepModes puts a task to sleep, sends it a signal, and checks
// whether the signal ends the sleep; a sleep it does not end ends when
// the event fires.
func TestSleepModes(t *testing.T) {
	tests := []struct {
		name      string
		mode      sched.Mode
		sig       abi.Signal
		catch     bool
		interrupt bool
	}{
		{"killable, SIGKILL", sched.Killable, abi.SIGKILL, false, true},
		{"killable, fatal SIGUSR1", sched.Killable, abi.SIGUSR1, false, true},
		{"killable, caught SIGUSR1", sched.Killable, abi.SIGUSR1, true, false},
		{"uninterruptible, SIGKILL", sched.Uninterruptible, abi.SIGKILL, false, false},
		{"uninterruptible, caught SIGUSR1", sched.Uninterruptible, abi.SIGUSR1, true, false},
		{"interruptible, caught SIGUSR1", sched.Interruptible, abi.SIGUSR1, true, true},
		{"interruptible, SIGKILL", sched.Interruptible, abi.SIGKILL, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := machine(t)
			obs := newObserver()
			k.SetObserver(obs)
			task := k.Spawn("sleeper")
			if tc.catch {
				wantOK(t, "sigaction", task.Sigaction(tc.sig, kernel.SigCatch))
			}
			ev := sched.NewEvent()
			res := sleepResult(task, ev, tc.mode)
			obs.waitBlocked(t, task)
			task.SendSignal(tc.sig)
			if tc.interrupt {
				if recvBool(t, res) {
					t.Error("Sleep reported a wake, want an interruption")
				}
				ev.Fire()
				return
			}
			// Give a wrong implementation a moment to return early; a
			// correct one cannot, so this never fails spuriously.
			select {
			case v := <-res:
				t.Fatalf("Sleep returned %v on %v in %v mode", v, tc.sig, tc.mode)
			case <-time.After(20 * time.Millisecond):
			}
			ev.Fire()
			if !recvBool(t, res) {
				t.Error("Sleep reported an interruption after the event fired")
			}
		})
	}
}

// TestSleepPendingSignal: a signal already pending ends a sleep at once.
func TestSleepPendingSignal(t *testing.T) {
	_, task := machine(t)
	task.SendSignal(abi.SIGKILL)
	ev := sched.NewEvent()
	if recvBool(t, sleepResult(task, ev, sched.Killable)) {
		t.Error("Sleep of a killed task reported a wake")
	}
	ev.Fire()
	if !recvBool(t, sleepResult(task, ev, sched.Killable)) {
		t.Error("Sleep on a fired event reported an interruption")
	}
}

// TestShutdownEndsSleeps: Shutdown interrupts sleeps of every mode.
func TestShutdownEndsSleeps(t *testing.T) {
	for _, mode := range []sched.Mode{sched.Uninterruptible, sched.Killable, sched.Interruptible} {
		k, task := machine(t)
		obs := newObserver()
		k.SetObserver(obs)
		res := sleepResult(task, sched.NewEvent(), mode)
		obs.waitBlocked(t, task)
		k.Shutdown()
		if recvBool(t, res) {
			t.Errorf("%v: Sleep reported a wake after Shutdown", mode)
		}
	}
}

// TestKillDuringLockWait: a task blocked killably for the mmap lock inside
// mmap(2) dies of SIGKILL; the lock holder is unaffected.
func TestKillDuringLockWait(t *testing.T) {
	tests := []struct {
		name  string
		sig   abi.Signal
		catch bool
		dies  bool
	}{
		{"SIGKILL", abi.SIGKILL, false, true},
		{"caught SIGUSR1 does not interrupt", abi.SIGUSR1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := machine(t)
			obs := newObserver()
			k.SetObserver(obs)
			task := k.Spawn("victim")
			if tc.catch {
				wantOK(t, "sigaction", task.Sigaction(tc.sig, kernel.SigCatch))
			}
			m := task.MM()
			m.Get() // the test's own reference, as a lock holder holds one
			defer m.Put()
			if !m.MmapWriteTryLock() {
				t.Fatal("trylock")
			}
			res := make(chan kernel.Outcome, 1)
			go func() { res <- task.Mmap(kernel.MmapArgs{Length: pg, Prot: rw}) }()
			obs.waitBlocked(t, task)
			task.SendSignal(tc.sig)
			var out kernel.Outcome
			if tc.dies {
				select {
				case out = <-res:
				case <-time.After(hangGuard):
					t.Fatal("mmap never returned")
				}
				if out.Kind != kernel.OutKilled || out.Signal != abi.SIGKILL {
					t.Errorf("mmap = %v, want killed by SIGKILL", out)
				}
				wantDead(t, task, abi.SIGKILL)
				if _, w, _ := m.LockState(); !w {
					t.Error("the holder lost its write lock")
				}
				m.MmapWriteUnlock()
				return
			}
			select {
			case out = <-res:
				t.Fatalf("mmap returned %v while the lock was held", out)
			case <-time.After(20 * time.Millisecond):
			}
			m.MmapWriteUnlock()
			select {
			case out = <-res:
			case <-time.After(hangGuard):
				t.Fatal("mmap never returned")
			}
			if out.Kind != kernel.OutOK {
				t.Errorf("mmap = %v, want ok", out)
			}
			wantAlive(t, task)
			if task.Caught(tc.sig) != 1 {
				t.Errorf("handler ran %d times, want once on the way out", task.Caught(tc.sig))
			}
		})
	}
}

// TestOops: a kernel access with no exception-table entry that cannot be
// resolved crashes the task; a resolvable one is harmless.
func TestOops(t *testing.T) {
	k, task := machine(t)
	sib, _ := task.Clone("sibling")
	other := k.Spawn("other")
	addr := mmap(t, task, kernel.MmapArgs{Length: 2 * pg, Prot: rw})

	if out := task.KDeref(addr, true); out.Kind != kernel.OutOK {
		t.Fatalf("kderef of mapped memory = %v, want ok", out)
	}
	if out := task.Read(addr); out.Kind != kernel.OutOK || out.Value != 0x41 {
		t.Fatalf("read after kderef write = %v, want 0x41", out)
	}
	if out := task.KDeref(addr+pg, false); out.Kind != kernel.OutOK || out.Value != 0 {
		t.Fatalf("kderef read of a fresh page = %v", out)
	}

	if out := task.KDeref(0x1000, false); out.Kind != kernel.OutOops {
		t.Fatalf("kderef of an unmapped address = %v, want oops", out)
	}
	wantDead(t, task, abi.SIGKILL)
	if out := task.Read(addr); out.Kind != kernel.OutKilled {
		t.Errorf("a call after the oops = %v", out)
	}
	wantAlive(t, sib) // make_task_dead ends the thread, not its group
	if out := sib.Read(addr); out.Kind != kernel.OutOK || out.Value != 0x41 {
		t.Errorf("sibling read = %v", out)
	}
	wantAlive(t, other)

	// The last thread's oops takes the process.
	if out := sib.KDeref(0x2000, true); out.Kind != kernel.OutOops {
		t.Fatalf("sibling kderef = %v", out)
	}
	wantDead(t, sib, abi.SIGKILL)
	if !task.Process().Exited() {
		t.Error("the process outlived its last thread")
	}
	if got := k.Phys().Stats().InUse; got != 0 {
		t.Errorf("pages in use %d after the process died", got)
	}
}

// TestFaultAccounting counts a task's faults through the whole path.
func TestFaultAccounting(t *testing.T) {
	_, task := machine(t)
	addr := mmap(t, task, kernel.MmapArgs{Length: 4 * pg, Prot: rw})
	wantOK(t, "read", task.Read(addr))                               // zero page: 1 fault
	wantOK(t, "write", task.Write(addr, 1))                          // COW: 1 fault
	wantOK(t, "write again", task.Write(addr, 2))                    // none
	wantOK(t, "read again", task.Read(addr))                         // none
	wantOK(t, "touch", task.Touch(addr+pg, 3*pg, mm.AccessWrite, 7)) // 3 faults
	wantSignal(t, "read of a hole", task.Read(addr-pg+8), abi.SIGSEGV, abi.SEGV_MAPERR, addr-pg+8)
	if minor, major := task.Faults(); minor != 5 || major != 0 {
		t.Errorf("faults minor %d major %d, want 5 and 0", minor, major)
	}
}

// TestSleepOnFiredEventNeverBlocks: a sleep whose event fired before it
// began must not tell the observer the task blocked, even for an instant;
// the scenario runner would take that instant for quiescence and report a
// runnable actor as blocked.
func TestSleepOnFiredEventNeverBlocks(t *testing.T) {
	k, task := machine(t)
	obs := newObserver()
	k.SetObserver(obs)
	ev := sched.NewEvent()
	ev.Fire()
	for _, mode := range []sched.Mode{sched.Uninterruptible, sched.Killable, sched.Interruptible} {
		if !recvBool(t, sleepResult(task, ev, mode)) {
			t.Errorf("%v sleep on a fired event reported an interruption", mode)
		}
	}
	select {
	case got := <-obs.blocked:
		t.Errorf("the observer was told %s blocked", got.Name)
	default:
	}
}

// TestStopCont: SIGSTOP stops the process's threads, so a call waits
// until SIGCONT; SIGKILL ends a stopped call with the kill.
func TestStopCont(t *testing.T) {
	_, task := machine(t)
	task.SendSignal(abi.SIGSTOP)
	done := make(chan kernel.Outcome, 1)
	go func() { done <- task.SetStackLimit(1 << 20) }()
	select {
	case out := <-done:
		t.Fatalf("a stopped task's call finished: %v", out)
	case <-time.After(20 * time.Millisecond):
	}
	task.SendSignal(abi.SIGCONT)
	select {
	case out := <-done:
		wantOK(t, "the call after SIGCONT", out)
	case <-time.After(10 * time.Second):
		t.Fatal("SIGCONT did not resume the stopped call")
	}

	task.SendSignal(abi.SIGSTOP)
	go func() { done <- task.SetStackLimit(1 << 20) }()
	task.SendSignal(abi.SIGKILL)
	select {
	case out := <-done:
		if out.Kind != kernel.OutKilled || out.Signal != abi.SIGKILL {
			t.Fatalf("the stopped call = %v, want killed SIGKILL", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGKILL did not end the stopped call")
	}
}

// TestSIGCHLD: a child's stop, continue and exit send SIGCHLD to the
// thread that forked it; with the default disposition nothing runs.
func TestSIGCHLD(t *testing.T) {
	_, parent := machine(t)
	wantOK(t, "sigaction", parent.Sigaction(abi.SIGCHLD, kernel.SigCatch))
	child, out := parent.Fork("child")
	wantOK(t, "fork", out)
	child.SendSignal(abi.SIGSTOP)
	child.SendSignal(abi.SIGCONT)
	child.SendSignal(abi.SIGKILL)
	if got := parent.Caught(abi.SIGCHLD); got != 3 {
		t.Errorf("the parent's SIGCHLD handler ran %d times, want 3 (stop, continue, exit)", got)
	}
	quiet, out := parent.Fork("quiet")
	wantOK(t, "fork", out)
	wantOK(t, "sigaction", parent.Sigaction(abi.SIGCHLD, kernel.SigDefault))
	quiet.SendSignal(abi.SIGKILL)
	wantAlive(t, parent)
	if got := parent.Caught(abi.SIGCHLD); got != 3 {
		t.Errorf("a default SIGCHLD ran the handler: %d", got)
	}
}
