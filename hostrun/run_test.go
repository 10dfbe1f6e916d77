//go:build linux

package hostrun

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

var detected *Host

func detect(t *testing.T) *Host {
	t.Helper()
	if detected != nil {
		return detected
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout.Default().Of(time.Minute))
	defer cancel()
	h, err := Detect(ctx)
	if err != nil {
		t.Skipf("cannot run scenarios on this host: %v", err)
	}
	detected = h
	return h
}

func parse(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("t.fault", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDetect(t *testing.T) {
	h := detect(t)
	if h.Arch == "" || h.Kernel == "" {
		t.Fatalf("host %+v", h)
	}
	for _, key := range []string{"kernel", "stack_guard_gap", "mmap_min_addr", "pkeys", "zero_page", "page_size"} {
		if !h.Detected[key] {
			t.Errorf("config %s was not detected (notes: %v)", key, h.Notes)
		}
	}
	if got, want := h.Config.PageSize, uint64(os.Getpagesize()); got != want {
		t.Errorf("page_size %d, sysconf says %d", got, want)
	}
	if v, err := config.ReleaseVersion(h.Kernel); err == nil {
		if got, _ := h.Config.Get("kernel"); got != v.String() {
			t.Errorf("kernel %s, the release %s says %s", got, h.Kernel, v)
		}
	}
	if min, ok := readTrim("/proc/sys/vm/mmap_min_addr"); ok {
		got, _ := h.Config.Get("mmap_min_addr")
		g, _ := strconv.ParseUint(got, 10, 64)
		m, _ := strconv.ParseUint(min, 10, 64)
		if g < m {
			t.Errorf("mmap_min_addr %s, below the %s /proc says", got, min)
		}
	}
	if !h.Wchan && !strings.Contains(strings.Join(h.Notes, "\n"), "wchan") {
		t.Errorf("wchan is hidden, and no note says so: %v", h.Notes)
	}
	t.Logf("host %s %s root=%v wchan=%v config %s missing %v", h.Arch, h.Kernel, h.Root, h.Wchan, h.Config.String(), h.Missing)
}

// TestOracleCanFail: a deliberately wrong expectation is a failure of the
// host run, with the real kernel's outcome.
func TestOracleCanFail(t *testing.T) {
	h := detect(t)
	rep := h.Run(context.Background(), parse(t, `scenario wrong
mmap A 1p r private anon
write A 1 => ok
read A => ok 0
`), Options{})
	if rep.Status != runner.Fail || len(rep.Failures) != 1 {
		t.Fatalf("status %v %s, failures %+v", rep.Status, rep.Reason, rep.Failures)
	}
	f := rep.Failures[0]
	if f.Pos != "t.fault:3:1" || !strings.HasPrefix(f.Actual, "SIGSEGV SEGV_ACCERR @A") {
		t.Fatalf("failure %+v", f)
	}
}

// TestBlockedIsBounded: a statement that never finishes, its thread in a
// userfaultfd wait, is reported as blocked, and the run ends. Where the
// kernel shows where threads sleep, that is decided from its state alone:
// the sleep-time guess (BlockAfter) is out of reach, and a decision that
// waited for the limit instead would make the run TimedOut.
func TestBlockedIsBounded(t *testing.T) {
	h := detect(t)
	if why := h.Missing["uffd"]; why != "" {
		t.Skip(why)
	}
	s := parse(t, `scenario hang
mmap A 1p rw private anon
uffd U register A 1p missing
thread T
T: read A &
wait T => blocked
read A => ok 0
`)
	opts := Options{BlockAfter: time.Hour, Limit: time.Minute}
	if !h.Wchan {
		opts.BlockAfter = 100 * time.Millisecond
	}
	rep := h.Run(context.Background(), s, opts)
	if rep.Status != runner.Fail || len(rep.Failures) != 1 || rep.Failures[0].Actual != "blocked" {
		t.Fatalf("status %v %s, failures %+v, want the last read to block", rep.Status, rep.Reason, rep.Failures)
	}
}

func TestSkip(t *testing.T) {
	h := detect(t)
	tests := []struct {
		src, want string
	}{
		{"scenario a\nkderef 0\n", "model-only statement kderef"},
		{"scenario b\nread 0 => oops\n", "model-only outcome oops"},
		{"scenario c\narch riscv64 arm64 ppc64le s390x\n", "does not run on"},
		{"scenario d\nread 0x10 => SIGSEGV SEGV_MAPERR @0x10\n", ""},
	}
	if h.Arch == "riscv64" {
		tests[2].src = "scenario c\narch x86_64\n"
	}
	if got, _ := h.Config.Get("pkeys"); got == "n" {
		tests = append(tests, struct{ src, want string }{"scenario e\nconfig pkeys=y\n", "config pkeys=y is pinned; the host has pkeys=n"})
	}
	if h.Arch != "arm64" {
		// epan is an arm64 CPU feature: off arm64 neither value skips.
		tests = append(tests, struct{ src, want string }{"scenario f\nconfig epan=y\n", ""}, struct{ src, want string }{"scenario g\nconfig epan=n\n", ""})
	}
	for _, tc := range tests {
		got := h.Skip(parse(t, tc.src))
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%q: skip %q, want %q", tc.src, got, tc.want)
		}
	}
}

// TestWaitOnStatementNotRun: when a background statement could not run
// (its region was never bound), its wait is a failure of the scenario
// with the reason, not an error of the runner.
func TestWaitOnStatementNotRun(t *testing.T) {
	h := detect(t)
	rep := h.Run(context.Background(), parse(t, `scenario unbound
mmap B 1p rw private anon
mmap A 1p rw private anon at=B => EEXIST
thread T
T: read A &
wait T => ok 0
`), Options{})
	if rep.Status != runner.Fail {
		t.Fatalf("status %v %s, failures %+v", rep.Status, rep.Reason, rep.Failures)
	}
	var notRun int
	for _, f := range rep.Failures {
		if f.Actual == "not run" {
			notRun++
		}
	}
	if notRun != 2 {
		t.Fatalf("failures %+v, want the read and its wait not run", rep.Failures)
	}
}

// TestWrappingAddress: a region-relative address that would wrap around
// is the statement's not-run failure, with its position, as on the model;
// the run goes on.
func TestWrappingAddress(t *testing.T) {
	h := detect(t)
	s := parse(t, `scenario wrap
mmap A 1p rw private anon
write A-0x7fffffffffffffff 1
uffd U register A-0x7fffffffffffffff 1p missing
read A => ok 0
`)
	rep := h.Run(context.Background(), s, Options{})
	model := runner.Run(s, h.Arch, runner.Options{Handler: machine.Generic})
	for _, r := range []runner.Report{rep, model} {
		if r.Status != runner.Fail || len(r.Failures) != 2 || r.Checked != 4 {
			t.Fatalf("status %v %s, %d checked, failures %+v", r.Status, r.Reason, r.Checked, r.Failures)
		}
		for i, pos := range []string{"t.fault:3:1", "t.fault:4:1"} {
			f := r.Failures[i]
			if f.Pos != pos || f.Actual != "not run" || !strings.Contains(f.Note, "wraps around: region A starts at") {
				t.Errorf("failure %d: %+v", i, f)
			}
		}
	}
}

// TestNewActorCountsStartReady: a fork child's and a new thread's fault
// counts start when the statement making them completes, so that the
// executor's own set-up in them is not counted: with nothing done since,
// both read zero, and one copy-on-write write reads one.
func TestNewActorCountsStartReady(t *testing.T) {
	h := detect(t)
	tests := []struct{ name, src string }{
		{"fork idle", "scenario a\nfork C\nfaults C => minflt=0 majflt=0\n"},
		{"thread idle", "scenario b\nthread T\nfaults T => minflt=0 majflt=0\n"},
		{"fork write", "scenario c\nmmap A 1p rw private anon\nwrite A 1\nfork C\nC: write A 2\nfaults C => minflt=1 majflt=0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := h.Run(context.Background(), parse(t, tc.src), Options{})
			if rep.Status != runner.Pass {
				t.Fatalf("status %v %s, failures %+v", rep.Status, rep.Reason, rep.Failures)
			}
		})
	}
}

// TestExecOnlyProbe reads a PROT_EXEC-only page as the epan detection
// does: on x86_64 without protection keys (and on arm64 without EPAN) it
// reads; with pkeys or EPAN the fault is caught, never fatal.
func TestExecOnlyProbe(t *testing.T) {
	unreadable, ok := execOnlyUnreadable()
	if !ok {
		t.Fatal("could not map a PROT_EXEC-only page")
	}
	if pk := cpuFlags()["ospke"]; runtime.GOARCH == "amd64" && unreadable != pk {
		t.Errorf("exec-only page unreadable %v, but the CPU has ospke %v", unreadable, pk)
	}
}
