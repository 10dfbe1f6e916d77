//go:build linux

package hostrun

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/runner"
)

// fakeEnv makes the test binary a fake executor (see TestMain): a test
// double whose commands never answer, so that what the runner concludes
// comes from the thread's state alone.
const fakeEnv = "FAULTLINE_TEST_FAKE_EXECUTOR"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		fakeExecutor(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeExecutor connects as actor main and reads commands without ever
// answering; in mode "stop" it stops itself on its first command, as a
// group-stopped process does.
func fakeExecutor(mode string) {
	runtime.LockOSThread()
	c, err := net.Dial("unix", os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	fmt.Fprintf(c, "hello main %d %d\n", os.Getpid(), syscall.Gettid())
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		os.Exit(0)
	}
	if mode == "stop" {
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	}
	for {
		if _, err := br.ReadString('\n'); err != nil {
			os.Exit(0)
		}
	}
}

// fakeHost is a host whose executor is the fake one in mode.
func fakeHost(t *testing.T, mode string, wchan bool) *Host {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := dir + "/fake"
	script := fmt.Sprintf("#!/bin/sh\n%s=%s exec %q \"$@\"\n", fakeEnv, mode, self)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Host{Arch: "x86_64", Wchan: wchan, bin: bin}
}

// TestStatementTimesOut: a statement that neither answers nor blocks (its
// thread sleeps where a later statement cannot wake it) ends the run as
// TimedOut at its limit, naming the statement and the limit: never as
// blocked, an error or a failed expectation.
func TestStatementTimesOut(t *testing.T) {
	h := fakeHost(t, "silent", true)
	rep := h.Run(context.Background(), parse(t, "scenario slow\nread 0x10 => SIGSEGV SEGV_MAPERR @0x10\n"), Options{Limit: 50 * time.Millisecond})
	if rep.Status != runner.TimedOut || !strings.Contains(rep.Reason, "t.fault:2:1: read 0x10") ||
		!strings.Contains(rep.Reason, "within 50ms") || len(rep.Failures) != 0 {
		t.Fatalf("status %v, reason %q, failures %+v", rep.Status, rep.Reason, rep.Failures)
	}
}

// TestStoppedIsBlockedAtOnce: a stopped thread is blocked by the kernel's
// own state, without a time race: with the sleep-time guess out of reach
// (an hour) the statement is still blocked, well before its limit.
func TestStoppedIsBlockedAtOnce(t *testing.T) {
	h := fakeHost(t, "stop", true)
	rep := h.Run(context.Background(), parse(t, "scenario stopped\nread 0x10 => ok\n"), Options{BlockAfter: time.Hour, Limit: time.Minute})
	if rep.Status != runner.Fail || len(rep.Failures) != 1 || rep.Failures[0].Actual != "blocked" {
		t.Fatalf("status %v, reason %q, failures %+v; want the read blocked", rep.Status, rep.Reason, rep.Failures)
	}
}

// TestHiddenWchanFallsBack: where the kernel hides where threads sleep,
// a thread asleep without answering for BlockAfter counts as blocked
// (the documented fallback), whatever it sleeps on.
func TestHiddenWchanFallsBack(t *testing.T) {
	h := fakeHost(t, "silent", false)
	rep := h.Run(context.Background(), parse(t, "scenario hidden\nread 0x10 => ok\n"), Options{BlockAfter: 10 * time.Millisecond, Limit: time.Minute})
	if rep.Status != runner.Fail || len(rep.Failures) != 1 || rep.Failures[0].Actual != "blocked" {
		t.Fatalf("status %v, reason %q, failures %+v; want the read blocked", rep.Status, rep.Reason, rep.Failures)
	}
}

// TestKernelBlocked reads real threads: a running one and one asleep
// elsewhere are not blocked; a stopped one is.
func TestKernelBlocked(t *testing.T) {
	if kernelBlocked(os.Getpid(), syscall.Gettid(), true) {
		t.Errorf("the running test thread counts as blocked")
	}
	for _, tc := range []struct {
		stop bool
		want bool
	}{{false, false}, {true, true}} {
		p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "sleep 100"}, &os.ProcAttr{})
		if err != nil {
			t.Skip(err)
		}
		if tc.stop {
			p.Signal(syscall.SIGSTOP)
		}
		got := false
		// The state settles once the shell sleeps (or stops); read until
		// it does, then once more.
		for range 200 {
			st, _ := readTaskStatus(p.Pid, p.Pid)
			if st.state == 'S' || st.state == 'T' {
				got = kernelBlocked(p.Pid, p.Pid, false)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		p.Kill()
		p.Wait()
		if got != tc.want {
			t.Errorf("stopped %v: blocked %v, want %v", tc.stop, got, tc.want)
		}
	}
}

// TestUserfaultLoop: a thread is in the userfaultfd retry loop once it
// has run for loopCPU with a caught signal pending all along, no user
// time and no completed fault; anything else restarts the count. The
// runtime is schedstat's where the kernel has it, else stime's ticks.
func TestUserfaultLoop(t *testing.T) {
	sig := uint64(1 << 9) // SIGUSR1
	ran := func(ns time.Duration) loopState {
		return loopState{runtime: uint64(ns), haveRuntime: true, pending: sig}
	}
	with := func(ls loopState, f func(*loopState)) loopState { f(&ls); return ls }
	const ms = time.Millisecond
	ticks := uint64(loopCPU / clockTick)
	tests := []struct {
		name  string
		reads []loopState
		want  bool // after the last reading
	}{
		{"spinning in the kernel", []loopState{ran(5 * ms), ran(5*ms + loopCPU)}, true},
		{"not yet long enough", []loopState{ran(5 * ms), ran(5*ms + loopCPU - 1)}, false},
		{"spinning, counted in ticks", []loopState{{stime: 5, pending: sig}, {stime: 5 + ticks, pending: sig}}, true},
		{"not yet long enough, in ticks", []loopState{{stime: 5, pending: sig}, {stime: 4 + ticks, pending: sig}}, false},
		{"no signal pending", []loopState{{stime: 5}, {stime: 5 + ticks}}, false},
		{"returned to user mode", []loopState{ran(5 * ms), with(ran(5*ms+loopCPU), func(l *loopState) { l.utime = 1 })}, false},
		{"completed a fault (a copy that progresses)", []loopState{ran(5 * ms), with(ran(5*ms+loopCPU), func(l *loopState) { l.minflt = 1 })}, false},
		{"the signal was delivered, another came", []loopState{ran(5 * ms), with(ran(6*ms), func(l *loopState) { l.pending = sig << 1 }),
			with(ran(5*ms+loopCPU), func(l *loopState) { l.pending = sig << 1 })}, false},
		{"counted again after a restart", []loopState{ran(5 * ms), with(ran(6*ms), func(l *loopState) { l.utime = 1 }),
			with(ran(6*ms+loopCPU), func(l *loopState) { l.utime = 1 })}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l userfaultLoop
			got := false
			for _, r := range tc.reads {
				got = l.take(func() (loopState, bool) { return r, true })
			}
			if got != tc.want {
				t.Fatalf("looping %v, want %v", got, tc.want)
			}
		})
	}
	if _, ok := readLoopState(os.Getpid(), syscall.Gettid()); !ok {
		t.Errorf("cannot read the test thread's state")
	}
}
