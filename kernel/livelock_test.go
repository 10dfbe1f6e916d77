package kernel_test

import (
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
