package bench

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/faultline/faultline/host"
)

// hostRunTimeout bounds one run of a workload on the host: far beyond
// what 2^26 faults take, short of a hang.
const hostRunTimeout = 10 * time.Minute

// Host runs workloads on this machine's kernel, in one executor process
// (host.Build, host.Start: the executor faultline builds and trusts), by
// its bench command: the workload runs and is timed in that process.
type Host struct {
	bin  string
	exe  *host.Executor
	main *host.Actor
}

// StartHost builds the executor and starts it. The error says why the
// host cannot run workloads (not Linux, no C compiler).
func StartHost(ctx context.Context) (*Host, error) {
	bin, err := host.Build(ctx)
	if err != nil {
		return nil, err
	}
	exe, err := host.Start(ctx, bin)
	if err != nil {
		host.RemoveBuild(bin)
		return nil, err
	}
	a, err := exe.Actor("main", time.Second)
	if err != nil {
		exe.Close()
		host.RemoveBuild(bin)
		return nil, err
	}
	return &Host{bin: bin, exe: exe, main: a}, nil
}

// Close kills the executor and removes its files (idempotent).
func (h *Host) Close() error {
	err := h.exe.Close()
	host.RemoveBuild(h.bin)
	return err
}

// Command is the executor command that runs w with ops faults
// (PROTOCOL.md: bench WORKLOAD OPS THREADS).
func Command(w Workload, ops uint64) string {
	return fmt.Sprintf("bench %s %d %d", w.hostName(), ops, w.Threads)
}

// Run runs w once with ops faults.
func (h *Host) Run(w Workload, ops uint64) (Sample, error) {
	r, err := h.main.Do(Command(w, ops), hostRunTimeout)
	if err != nil {
		if errors.Is(err, host.ErrGone) {
			return Sample{}, fmt.Errorf("host: the executor died during %s: %s", w.Name, h.exe.Log())
		}
		return Sample{}, fmt.Errorf("host: %s: %w", w.Name, err)
	}
	return ParseHostReply(w, ops, r)
}

// ParseHostReply turns the executor's reply to a bench command into a
// sample: `ok NS FAULTS`, or `err E` (a userfaultfd the user may not open
// is a skip, naming the sysctl).
func ParseHostReply(w Workload, ops uint64, r host.Reply) (Sample, error) {
	switch r.Kind {
	case "ok":
		if len(r.Vals) != 2 {
			return Sample{}, fmt.Errorf("host: %s: malformed reply %q", w.Name, r.Line)
		}
		return Sample{Ops: ops, Elapsed: time.Duration(r.Vals[0]), Faults: r.Vals[1]}, nil
	case "err":
		if w.Kind == UffdMissing {
			switch r.Errno {
			case syscall.EPERM, syscall.EACCES:
				return Sample{}, &SkipError{"userfaultfd is not allowed for this user (vm.unprivileged_userfaultfd is 0, no access to /dev/userfaultfd, not root)"}
			case syscall.ENOSYS:
				return Sample{}, &SkipError{"the kernel has no userfaultfd (CONFIG_USERFAULTFD)"}
			}
		}
		return Sample{}, fmt.Errorf("host: %s: %v", w.Name, r.Errno)
	}
	return Sample{}, fmt.Errorf("host: %s: %s", w.Name, r.Line)
}
