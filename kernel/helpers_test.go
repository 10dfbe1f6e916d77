package kernel_test

import (
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
)

const (
	pg = 4096
	rw = mm.ProtRead | mm.ProtWrite
	ro = mm.ProtRead
)

// hangGuard bounds every wait; reaching it means the test hung.
const hangGuard = 10 * time.Second

// observer records the tasks that went to sleep.
type observer struct {
	mu      sync.Mutex
	blocked chan *kernel.Task
	running int
}

func newObserver() *observer { return &observer{blocked: make(chan *kernel.Task, 64)} }

func (o *observer) TaskBlocked(t *kernel.Task) {
	select {
	case o.blocked <- t:
	default:
	}
}

func (o *observer) TaskRunning(*kernel.Task) {
	o.mu.Lock()
	o.running++
	o.mu.Unlock()
}

func (o *observer) waitBlocked(t *testing.T, want *kernel.Task) {
	t.Helper()
	for {
		select {
		case got := <-o.blocked:
			if got == want {
				return
			}
		case <-time.After(hangGuard):
			t.Fatal("the task never went to sleep")
		}
	}
}

// machine returns an x86_64 machine and its first task.
func machine(t *testing.T, opts ...func(*config.Kernel)) (*kernel.Kernel, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	for _, o := range opts {
		o(&cfg)
	}
	k := kernel.New(cfg, x86.New(cfg))
	t.Cleanup(k.Shutdown)
	return k, k.Spawn("t")
}

func mmap(t *testing.T, task *kernel.Task, a kernel.MmapArgs) uint64 {
	t.Helper()
	out := task.Mmap(a)
	if out.Kind != kernel.OutOK || !out.HasValue {
		t.Fatalf("mmap %+v: %v", a, out)
	}
	return out.Value
}

func wantOK(t *testing.T, what string, out kernel.Outcome) {
	t.Helper()
	if out.Kind != kernel.OutOK {
		t.Fatalf("%s = %v, want ok", what, out)
	}
}

func wantErrno(t *testing.T, what string, out kernel.Outcome, e abi.Errno) {
	t.Helper()
	if out.Kind != kernel.OutErrno || out.Errno != e {
		t.Fatalf("%s = %v, want %v", what, out, e)
	}
}

func wantSignal(t *testing.T, what string, out kernel.Outcome, sig abi.Signal, code abi.Code, addr uint64) {
	t.Helper()
	if out.Kind != kernel.OutSignal || out.Info.Signo != sig || out.Info.Code != code || out.Info.Addr != addr {
		t.Fatalf("%s = %v, want %v %s @%#x", what, out, sig, abi.CodeName(sig, code), addr)
	}
}

func wantAlive(t *testing.T, task *kernel.Task) {
	t.Helper()
	if dead, sig := task.Dead(); dead {
		t.Fatalf("task %s is dead (%v)", task.Name, sig)
	}
}

func wantDead(t *testing.T, task *kernel.Task, sig abi.Signal) {
	t.Helper()
	if dead, got := task.Dead(); !dead || got != sig {
		t.Fatalf("task %s: dead %v by %v, want dead by %v", task.Name, dead, got, sig)
	}
}
