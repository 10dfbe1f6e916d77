package kernel_test

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
)

// spinArch is x86_64 whose trap handler resolves nothing and always
// returns to the instruction, as a handler that drops a fault on the
// floor does: the access faults again, forever.
type spinArch struct {
	*x86.Arch
	traps atomic.Int64
}

func (a *spinArch) Trap(*kernel.Task, *kernel.Regs) kernel.TrapAction {
	a.traps.Add(1)
	return kernel.Restart
}

// TestLivelockStuck: a call whose access livelocks leaves its task in the
// kernel for the rest of the run: it returns to user mode no more, so a
// SIGKILL neither ends it nor is delivered, and a later call of the task
// runs nothing; the rest of its thread group dies as usual, and only the
// end of the run (KillAll) ends the task and frees its memory.
func TestLivelockStuck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		access func(*kernel.Task, uint64) kernel.Outcome
	}{
		{"kernel copy", func(tk *kernel.Task, a uint64) kernel.Outcome { return tk.KRead(a, 16, 7) }},
		{"user access", func(tk *kernel.Task, a uint64) kernel.Outcome { return tk.Read(a) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			arch := &spinArch{Arch: x86.New(cfg)}
			k := kernel.New(cfg, arch)
			t.Cleanup(k.Shutdown)
			main := k.Spawn("main")
			a := mmap(t, main, kernel.MmapArgs{Length: pg, Prot: rw})
			child, out := main.Fork("child")
			wantOK(t, "fork", out)
			T, out := child.Clone("T")
			wantOK(t, "clone", out)

			if out := tc.access(T, a); out.Kind != kernel.OutLivelock {
				t.Fatalf("access = %v, want livelock", out)
			}
			if n := arch.traps.Load(); n != int64(k.MaxRestarts)+1 {
				t.Errorf("%d traps, want the bound %d + 1", n, k.MaxRestarts)
			}
			wantOK(t, "kill", main.Kill(T, abi.SIGKILL))
			wantAlive(t, T)
			wantDead(t, child, abi.SIGKILL)
			if out := T.Read(a); out.Kind != kernel.OutLivelock {
				t.Fatalf("a later call = %v, want livelock", out)
			}
			if n := arch.traps.Load(); n != int64(k.MaxRestarts)+1 {
				t.Errorf("the later call trapped: %d traps", n)
			}
			if child.Process().Exited() {
				t.Error("the process exited with a thread still in the kernel")
			}

			k.KillAll()
			wantDead(t, T, abi.SIGKILL)
			if !child.Process().Exited() {
				t.Error("the process has not exited after KillAll")
			}
			if out := T.Read(a); out.Kind != kernel.OutKilled {
				t.Errorf("a call after KillAll = %v, want killed", out)
			}
			if st := k.Phys().Stats(); st.InUse != 0 {
				t.Errorf("%d pages in use after every process exited", st.InUse)
			}
		})
	}
}

// gateArch is x86_64 whose trap handler, while the gate is shut, resolves
// nothing and returns to the instruction (a fault that cannot complete);
// once the gate opens, it hands the fault to the real handler.
type gateArch struct {
	*x86.Arch
	shut atomic.Bool
}

func (a *gateArch) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if a.shut.Load() {
		return kernel.Restart
	}
	return a.Arch.Trap(t, r)
}

// TestLivelockResumes: with ResumeLivelocks, a livelocked access waits
// (Livelocked) instead of ending its call, no signal ends the wait, and it
// gets through once what it faults on changed and another task's call
// ended: the real task spins and would notice at once. The end of the run
// ends one that never gets through, with its pending kill.
func TestLivelockResumes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		access func(*kernel.Task, uint64) kernel.Outcome
		want   kernel.Outcome // once the gate opens
	}{
		{"kernel copy", func(tk *kernel.Task, a uint64) kernel.Outcome { return tk.KRead(a, 16, 7) }, kernel.OKValue(16)},
		{"user access", func(tk *kernel.Task, a uint64) kernel.Outcome { return tk.Read(a) }, kernel.OKValue(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			arch := &gateArch{Arch: x86.New(cfg)}
			arch.shut.Store(true)
			k := kernel.New(cfg, arch)
			k.ResumeLivelocks = true
			t.Cleanup(k.Shutdown)
			main := k.Spawn("main")
			a := mmap(t, main, kernel.MmapArgs{Length: pg, Prot: rw})
			T, out := main.Clone("T")
			wantOK(t, "clone", out)

			done := make(chan kernel.Outcome, 1)
			go func() { done <- tc.access(T, a) }()
			waitFor(t, "the access to livelock", T.Livelocked)
			// Another call that changes nothing: the access tries again,
			// and waits again.
			before := k.Progress()
			wantOK(t, "mprotect", main.Mprotect(a, pg, rw))
			waitFor(t, "the access to try again and wait", func() bool { return k.Progress() > before+uint64(k.MaxRestarts) && T.Livelocked() })
			select {
			case out := <-done:
				t.Fatalf("the access ended while nothing changed: %v", out)
			default:
			}
			arch.shut.Store(false)
			wantOK(t, "mprotect", main.Mprotect(a, pg, rw))
			if out := <-done; out.Kind != tc.want.Kind || out.Value != tc.want.Value {
				t.Errorf("after the change: %v, want %v", out, tc.want)
			}
			if T.Livelocked() {
				t.Error("still livelocked after getting through")
			}
		})
	}
	t.Run("end of the run", func(t *testing.T) {
		cfg := config.Default()
		arch := &gateArch{Arch: x86.New(cfg)}
		arch.shut.Store(true)
		k := kernel.New(cfg, arch)
		k.ResumeLivelocks = true
		t.Cleanup(k.Shutdown)
		main := k.Spawn("main")
		a := mmap(t, main, kernel.MmapArgs{Length: pg, Prot: rw})
		child, out := main.Fork("child")
		wantOK(t, "fork", out)
		done := make(chan kernel.Outcome, 1)
		go func() { done <- child.KRead(a, 16, 7) }()
		waitFor(t, "the copy to livelock", child.Livelocked)
		wantOK(t, "kill", main.Kill(child, abi.SIGKILL))
		waitFor(t, "the kill to leave it livelocked", child.Livelocked)
		wantAlive(t, child)
		k.KillAll()
		if out := <-done; out.Kind != kernel.OutKilled || out.Signal != abi.SIGKILL {
			t.Errorf("at the end of the run: %v, want killed SIGKILL", out)
		}
		wantDead(t, child, abi.SIGKILL)
	})
}

// waitFor waits until cond holds, yielding to the goroutines that make it
// hold; it gives up after a very generous number of tries (no timing is
// asserted: a loaded machine only takes more tries).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1<<26; i++ {
		if cond() {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("gave up waiting for %s", what)
}
