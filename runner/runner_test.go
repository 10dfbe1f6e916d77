package runner

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/scenario"
)

func parse(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("t.fault", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		arch     string
		status   Status
		failures []Failure // Pos, Expected and Actual are compared
		reason   string    // a substring of Report.Reason
	}{
		{name: "pass", arch: "x86_64", status: Pass, src: `scenario p
mmap A 1p rw private anon
write A 7
read A => ok 7
read A+1p => SIGSEGV SEGV_MAPERR @A+1p
`},
		{name: "a wrong expectation is caught", arch: "x86_64", status: Fail, src: `scenario f
mmap A 1p r private anon
write A 7 => ok
read A => ok 1
`, failures: []Failure{
			{Pos: "t.fault:3:1", Expected: "ok"},
			{Pos: "t.fault:4:1", Expected: "ok 0x1", Actual: "ok 0x0"},
		}},
		{name: "a statement without expectation must not fail", arch: "riscv64", status: Fail, src: `scenario f
read 0x10
`, failures: []Failure{{Pos: "t.fault:2:1", Expected: "ok  # no expectation: must not fail", Actual: "SIGSEGV SEGV_MAPERR @0x10"}}},
		{name: "arch override", arch: "riscv64", status: Pass, src: `scenario o
read 0x8000000000000000 => SIGSEGV SI_KERNEL @0 riscv64=> SIGSEGV SEGV_MAPERR @0x8000000000000000
`},

		{name: "config pin", arch: "x86_64", status: Pass, src: `scenario c
config pkeys=y
mmap A 1p x private anon
read A => SIGSEGV SEGV_PKUERR @A
`},
		{name: "unbound region is the statement's failure", arch: "x86_64", status: Fail, src: `scenario b
mmap A 1p rw private anon
mmap B 1p rw private anon at=A => ok
read B
`, failures: []Failure{{Pos: "t.fault:3:1", Expected: "ok", Actual: "EEXIST"}, {Pos: "t.fault:4:1", Expected: "ok  # no expectation: must not fail", Actual: "not run"}}},
		{name: "an address that wraps around is the statement's failure", arch: "x86_64", status: Fail, src: `scenario wrap
mmap A 1p rw private anon
read A-0x7fffffffffffffff
`, failures: []Failure{{Pos: "t.fault:3:1", Expected: "ok  # no expectation: must not fail", Actual: "not run"}}},
		{name: "background statements and wait", arch: "x86_64", status: Pass, src: `scenario w
mmap A 1p rw private anon
thread t
t: write A 0x5a &
wait t => ok
read A => ok 0x5a
`},
		{name: "dispositions are inherited at fork", arch: "x86_64", status: Pass, src: `scenario d
fork c
sigaction SIGUSR1 catch
kill c SIGUSR1
c: read 0 => killed SIGUSR1
kill main SIGUSR1
caught main SIGUSR1 => 1
`},
		{name: "killed actors", arch: "x86_64", status: Pass, src: `scenario k
mmap A 1p rw private anon
sigaction SIGUSR1 catch
fork c
kill c SIGUSR1
caught c SIGUSR1 => 1
kill c SIGKILL
c: read A => killed SIGKILL
read A => ok 0
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Run(parse(t, tc.src), tc.arch, Options{Handler: machine.Generic})
			if rep.Status != tc.status {
				t.Fatalf("status %v (%s), want %v; failures %+v", rep.Status, rep.Reason, tc.status, rep.Failures)
			}
			if !strings.Contains(rep.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", rep.Reason, tc.reason)
			}
			if len(rep.Failures) != len(tc.failures) {
				t.Fatalf("failures %+v, want %d", rep.Failures, len(tc.failures))
			}
			for i, want := range tc.failures {
				got := rep.Failures[i]
				if got.Pos != want.Pos || got.Expected != want.Expected || want.Actual != "" && !strings.HasPrefix(got.Actual, want.Actual) {
					t.Errorf("failure %d: %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

// TestRunConfigBase: the base configuration applies under the pins.
func TestRunConfigBase(t *testing.T) {
	s := parse(t, `scenario z
mmap A 1p r private anon
read A => ok 0
`)
	cfg := config.Default()
	cfg.ZeroPage = false
	if rep := Run(s, "x86_64", Options{Handler: machine.Generic, Config: &cfg}); rep.Status != Pass {
		t.Fatalf("%v %s %+v", rep.Status, rep.Reason, rep.Failures)
	}
}

// TestRunPageSizePin: a page size the arch has runs; one it does not is
// an error naming the pin's file:line:column.
func TestRunPageSizePin(t *testing.T) {
	tests := []struct {
		arch, size string
		want       Status
	}{
		{"arm64", "16k", Pass},
		{"arm64", "64k", Pass},
		{"x86_64", "4k", Pass},
		{"x86_64", "16k", Error},
		{"riscv64", "64k", Error},
	}
	for _, tc := range tests {
		t.Run(tc.arch+"/"+tc.size, func(t *testing.T) {
			s := parse(t, "scenario z\nconfig page_size="+tc.size+"\nmmap A 1p r private anon\nread A => ok 0\n")
			rep := Run(s, tc.arch, Options{Handler: machine.Generic})
			if rep.Status != tc.want {
				t.Fatalf("%v %s, want %v", rep.Status, rep.Reason, tc.want)
			}
			if tc.want == Error && !strings.HasPrefix(rep.Reason, "t.fault:2:8: ") {
				t.Fatalf("reason %q does not name the pin", rep.Reason)
			}
		})
	}
}

func TestArches(t *testing.T) {
	s := parse(t, "scenario a\narch x86_64 loongarch64\n")
	run, not := Arches(s, "")
	if strings.Join(run, ",") != "x86_64" || strings.Join(not, ",") != "loongarch64" {
		t.Fatalf("run %v, not modeled %v", run, not)
	}
	run, _ = Arches(parse(t, "scenario b\n"), "riscv64")
	if strings.Join(run, ",") != "riscv64" {
		t.Fatalf("narrowed run %v", run)
	}
}

// fakeOp is a statement the model does not know.
type fakeOp struct{}

func (fakeOp) Keyword() string { return "frobnicate" }

// TestUnsupportedStops: a statement the model cannot run ends the run as
// skipped, naming it and its line, after checking what came before.
func TestUnsupportedStops(t *testing.T) {
	s := parse(t, "scenario u\nmmap A 1p rw private anon\nread A => ok 0\nread A => ok 1\n")
	s.Body[2].Op = fakeOp{}
	s.Body[2].Pos = scenario.Pos{File: "t.fault", Line: 4, Col: 1}
	rep := Run(s, "x86_64", Options{Handler: machine.Generic})
	if rep.Status != Skip || rep.Reason != "t.fault:4:1: frobnicate is not supported by the model yet" || rep.Checked != 2 {
		t.Fatalf("status %v reason %q checked %d", rep.Status, rep.Reason, rep.Checked)
	}
}

// TestExecRunsOnlyRet: an exec that fetches ret completes; one that
// fetches anything else stops the run as unsupported, naming the byte,
// rather than claim an outcome the model does not emulate.
func TestExecRunsOnlyRet(t *testing.T) {
	s := parse(t, "scenario x\nmmap A 1p rwx private anon\nwrite A ret\nexec A => ok\nexec A+1 => ok\nread A => ok ret\n")
	rep := Run(s, "x86_64", Options{Handler: machine.Generic})
	want := "t.fault:5:1: exec (the instruction fetched is 0x00, and the model runs only ret) is not supported by the model yet"
	if rep.Status != Skip || rep.Reason != want || rep.Checked != 3 {
		t.Fatalf("status %v reason %q checked %d", rep.Status, rep.Reason, rep.Checked)
	}
}
