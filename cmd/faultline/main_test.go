package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/scenario"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// timing hides the one nondeterministic part of the output.
var timing = regexp.MustCompile(`in [0-9.]+s`)

func runCLI(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = execute(args, &out, &errb)
	return timing.ReplaceAllString(out.String(), "in Xs"), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestRunGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"pass", []string{"run", "testdata/pass.fault"}, 0},
		{"fail", []string{"run", "testdata/fail.fault"}, 1},
		{"skip", []string{"run", "testdata/skip.fault"}, 2}, // nothing was checked
		{"skip", []string{"run", "--allow-skip-all", "testdata/skip.fault"}, 0},
		{"arch", []string{"run", "--arch", "riscv64", "testdata/pass.fault", "testdata/fail.fault"}, 0},
		{"arm64", []string{"run", "--arch", "arm64", "testdata/pass.fault"}, 0},
		{"loongarch64", []string{"run", "--arch", "loongarch64", "testdata/pass.fault"}, 2},
		{"loongarch64", []string{"run", "--arch", "loongarch64", "--allow-skip-all", "testdata/pass.fault"}, 0},
		{"pass", []string{"run", "--timeout-scale", "2.5", "testdata/pass.fault"}, 0},
		{"failskip", []string{"run", "--arch", "x86_64", "testdata/failskip.fault"}, 1},
		// One handler, another kernel: a scenario pinning another is
		// skipped with its pin, on both handlers.
		{"generic-6.1", []string{"run", "--handler", "generic", "--kernel", "6.1", "testdata/pass.fault", "testdata/pin61.fault"}, 0},
		{"pin", []string{"run", "--kernel", "6.18", "testdata/pin61.fault"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, errOut)
			}
			golden(t, tc.name, out)
		})
	}
}

func TestRunFileErrors(t *testing.T) {
	out, errOut, code := runCLI("run", "testdata/bad.fault", "testdata/pass.fault")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"testdata/bad.fault:4:9: ", "testdata/bad.fault:5:6: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "PASS  x86_64   generic cli-pass") {
		t.Errorf("the good file did not run:\n%s", out)
	}
}

// TestRunMissingFile: a path that cannot be read is a file error, and
// the other files still run.
func TestRunMissingFile(t *testing.T) {
	out, errOut, code := runCLI("run", "testdata/pass.fault", "testdata/no-such-file.fault")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut, "no-such-file.fault") || !strings.Contains(out, "PASS  x86_64   generic cli-pass") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestRunCorpus(t *testing.T) {
	out, errOut, code := runCLI("run")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "FAIL") || strings.Contains(out, "ERROR") {
		t.Fatalf("the corpus does not pass:\n%s", out)
	}
}

// TestNothingChecked: a run that checked nothing does not pass, and says
// why; --allow-skip-all lets it.
func TestNothingChecked(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.fault")
	if err := os.WriteFile(empty, []byte("scenario empty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--arch", "loongarch64", "testdata/pass.fault"}, 2, "nothing was checked: every scenario was skipped"},
		{[]string{"run", empty}, 2, "nothing was checked: no statement was run"},
		{[]string{"run", "--allow-skip-all", empty}, 0, ""},
		{[]string{"run", "--json", "--arch", "loongarch64", "testdata/skip.fault"}, 2, "nothing was checked"},
		{[]string{"run", "testdata/pass.fault", "testdata/skip.fault"}, 0, ""}, // something was checked
	}
	for _, tc := range tests {
		_, errOut, code := runCLI(tc.args...)
		if code != tc.code || tc.want != "" && !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestExitStatus: a timed-out run exits 2, before failures, and a run
// that checked nothing exits 2 unless allowed.
func TestExitStatus(t *testing.T) {
	code := func(err error) int {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 0
	}
	runs := []struct {
		sum   summary
		allow bool
		want  int
	}{
		{summary{counts: counts{Runs: 2, Passed: 2, Checked: 5}}, false, 0},
		{summary{counts: counts{Runs: 2, Passed: 1, Failed: 1, Checked: 5}}, false, 1},
		{summary{counts: counts{Runs: 2, Passed: 1, TimedOut: 1, Checked: 5}}, false, 2},
		{summary{counts: counts{Runs: 2, Failed: 1, TimedOut: 1, Checked: 5}}, false, 2},
		{summary{counts: counts{Runs: 2, Skipped: 2}}, false, 2},
		{summary{counts: counts{Runs: 2, Skipped: 2}}, true, 0},
		{summary{counts: counts{Runs: 1, TimedOut: 1}}, true, 2},
		{summary{counts: counts{Runs: 1, Passed: 1, Checked: 1}, FileErrors: 1}, false, 2},
	}
	for _, tc := range runs {
		if got := code(runExit(tc.sum, bounds{allowSkipAll: tc.allow})); got != tc.want {
			t.Errorf("run %+v (allow %v): exit %d, want %d", tc.sum, tc.allow, got, tc.want)
		}
	}
	confs := []struct {
		sum   conformSummary
		allow bool
		want  int
	}{
		{conformSummary{Agree: 3, Skipped: 1}, false, 0},
		{conformSummary{Agree: 3, ModelWrong: 1}, false, 1},
		{conformSummary{Agree: 3, TimedOut: 1}, false, 2},
		{conformSummary{ModelWrong: 1, TimedOut: 1}, false, 2},
		{conformSummary{Skipped: 4}, false, 2},
		{conformSummary{Skipped: 4}, true, 0},
	}
	for _, tc := range confs {
		if got := code(conformExit(tc.sum, bounds{allowSkipAll: tc.allow})); got != tc.want {
			t.Errorf("conform %+v (allow %v): exit %d, want %d", tc.sum, tc.allow, got, tc.want)
		}
	}
	if err := timedOut(1, "run"); !strings.Contains(err.Error(), "1 run timed out") {
		t.Errorf("message %q", err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--timeout-scale", "0", "testdata/pass.fault"},
		{"run", "--timeout-scale", "-1", "testdata/pass.fault"},
		{"run", "--timeout-scale", "x", "testdata/pass.fault"},
		{"conform", "--timeout-scale", "0", "testdata/pass.fault"},
		{"run", "--arch", "sparc"},
		{"run", "--handler", "fast", "testdata/pass.fault"},
		{"run", "--kernel", "6", "testdata/pass.fault"},
		{"run", "testdata/no-such-file.fault"},
		{"run", "--no-such-flag"},
		{"frobnicate"},
	} {
		if _, _, code := runCLI(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"run", "conform"} {
		out, _, code := runCLI("help", cmd)
		for _, want := range []string{"Exit status", "--timeout-scale", "FAULTLINE_TIMEOUT_SCALE", "--allow-skip-all", "TIMEOUT"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("help %s: exit %d, no %q:\n%s", cmd, code, want, out)
			}
		}
	}
	out, _, code := runCLI("help", "run")
	if code != 0 || !strings.Contains(out, "Exit status") || !strings.Contains(out, "--arch") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, _, code = runCLI("help", "diff")
	for _, want := range []string{"Exit status", "--arch", "--kernel", "--json", "--markdown", "unexplained", "not compared", reportCommand} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("help diff: exit %d, no %q:\n%s", code, want, out)
		}
	}
	out, _, _ = runCLI("help", "run")
	for _, want := range []string{"--handler", "--kernel", "generic=>"} {
		if !strings.Contains(out, want) {
			t.Errorf("help run: no %q", want)
		}
	}
	out, _, _ = runCLI("help")
	for _, want := range []string{"run", "conform", "diff"} {
		if !strings.Contains(out, want) {
			t.Fatalf("help does not list %s:\n%s", want, out)
		}
	}
}

// TestConform runs the oracle on this machine when it can: a right and a
// deliberately wrong scenario.
func TestConform(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the host kernel is the oracle only on Linux")
	}
	out, errOut, code := runCLI("conform", "testdata/pass.fault", "testdata/fail.fault")
	if strings.Contains(errOut, "faultline:") && code == 2 {
		t.Skipf("this host cannot run scenarios: %s", errOut)
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one wrong expectation):\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"AGREE               cli-pass", "EXPECTATION WRONG   cli-fail", "host:     SIGSEGV SEGV_ACCERR @A", "1 agree, 0 model wrong, 1 expectation wrong"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestRunHostileFiles: a named pipe, /dev/zero and a file past the size
// limit are each a file error with a clear message, for run and conform
// alike, and none of them makes the command wait (the pipe has no
// writer) or read without bound.
func TestRunHostileFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("named pipes and /dev/zero as on Linux")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.fault")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.fault")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#\n"), scenario.MaxFileSize/2+1), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{fifo, "pipe.fault: expected a regular file, found a named pipe (FIFO)"},
		{"/dev/zero", "/dev/zero: expected a regular file, found a character device"},
		{big, "big.fault: expected a scenario file of at most 1M (1048576 bytes), found one of 1048578 bytes"},
	}
	for _, cmd := range []string{"run", "conform"} {
		for _, tt := range tests {
			t.Run(cmd+" "+filepath.Base(tt.path), func(t *testing.T) {
				type result struct {
					stderr string
					code   int
				}
				done := make(chan result, 1)
				go func() {
					_, errOut, code := runCLI(cmd, tt.path)
					done <- result{errOut, code}
				}()
				select {
				case r := <-done:
					if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
						t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", r.code, r.stderr, tt.want)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("faultline %s %s did not return", cmd, tt.path)
				}
			})
		}
	}
}
