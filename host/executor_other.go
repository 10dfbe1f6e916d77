//go:build !linux && !plan9

package host

import (
	"context"
	"errors"
	"syscall"
	"time"
)

// Off Linux there is no host kernel to run scenarios on: this file keeps the
// package's API, and Build and Start say so. (plan9 has no syscall.Errno nor
// syscall.WaitStatus; there the package is documentation only.)

var errNotLinux = errors.New("host: host runs need Linux: the executor runs scenarios on the machine's own Linux kernel")

// ErrPending is returned by Actor.Do and Actor.Reply when no reply came
// within the timeout.
var ErrPending = errors.New("host: no reply yet: the command is still running")

// ErrGone is returned when an actor's connection closed.
var ErrGone = errors.New("host: the actor's connection closed")

// Build returns an error: host runs need Linux.
func Build(ctx context.Context) (path string, err error) { return "", errNotLinux }

// Executor is one running executor; off Linux there is none.
type Executor struct{}

// Start returns an error: host runs need Linux.
func Start(ctx context.Context, bin string) (*Executor, error) { return nil, errNotLinux }

// Dir returns "".
func (e *Executor) Dir() string { return "" }

// PID returns 0.
func (e *Executor) PID() int { return 0 }

// Log returns "".
func (e *Executor) Log() string { return "" }

// Actor returns an error: host runs need Linux.
func (e *Executor) Actor(name string, timeout time.Duration) (*Actor, error) {
	return nil, errNotLinux
}

// ExitStatus reports nothing.
func (e *Executor) ExitStatus(pid int, timeout time.Duration) (ws syscall.WaitStatus, ok bool) {
	return ws, false
}

// Close does nothing.
func (e *Executor) Close() error { return nil }

// Actor is one actor's connection; off Linux there is none.
type Actor struct {
	Name     string
	PID, TID int
}

// Do returns an error: host runs need Linux.
func (a *Actor) Do(cmd string, timeout time.Duration) (Reply, error) { return Reply{}, errNotLinux }

// Reply returns an error: host runs need Linux.
func (a *Actor) Reply(timeout time.Duration) (Reply, error) { return Reply{}, errNotLinux }

// Gone reports true.
func (a *Actor) Gone() bool { return true }

// Reply is one reply line of the executor, parsed.
type Reply struct {
	Kind  string
	Vals  []uint64
	Errno syscall.Errno
	Signo int
	Code  int
	Addr  uint64
	LSB   int
	Flags uint64
	Text  string
	Line  string
}

// String returns the reply line.
func (r Reply) String() string { return r.Line }

// ParseReply returns an error: host runs need Linux.
func ParseReply(line string) (Reply, error) { return Reply{}, errNotLinux }

// PGID returns 0.
func (e *Executor) PGID() int { return 0 }

// RemoveBuild does nothing: off Linux nothing is built.
func RemoveBuild(path string) error { return nil }

// CleanLeftovers does nothing off Linux.
func CleanLeftovers() []string { return nil }

// TrustedDir returns an error off Linux.
func TrustedDir(path string) error { return errNotLinux }

// ScratchBase is where a run's files would be made; off Linux, nowhere.
func ScratchBase() (string, error) { return "", errNotLinux }
