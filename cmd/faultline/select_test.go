package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/faultline/faultline/scenario"
)

// runIn runs the command line with stdin.
func runIn(stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = executeIn(args, strings.NewReader(stdin), &out, &errb)
	return timing.ReplaceAllString(out.String(), "in Xs"), errb.String(), code
}

func TestGoStyleFlags(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"run", "-run", "uffd", "x.fault"}, []string{"run", "--run", "uffd", "x.fault"}},
		{[]string{"run", "-run=^a$"}, []string{"run", "--run=^a$"}},
		{[]string{"run", "--run", "a"}, []string{"run", "--run", "a"}},
		{[]string{"run", "-runx", "-r"}, []string{"run", "-runx", "-r"}},
		{[]string{"run", "--", "-run"}, []string{"run", "--", "-run"}},
		{nil, []string{}},
	}
	for _, tc := range tests {
		if got := goStyleFlags(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("goStyleFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSelect: -run and --run keep the scenarios whose name matches, in
// run, diff and list; a pattern that matches nothing or does not compile
// is a usage error.
func TestSelect(t *testing.T) {
	files := []string{"testdata/pass.fault", "testdata/fail.fault"}
	tests := []struct {
		args    []string
		code    int
		want    []string
		notWant []string
	}{
		{append([]string{"run", "-run", "pass"}, files...), 0, []string{"cli-pass"}, []string{"cli-fail"}},
		{append([]string{"run", "--run=fa"}, files...), 1, []string{"cli-fail"}, []string{"cli-pass"}},
		{append([]string{"run", "-run", "^cli-"}, files...), 1, []string{"cli-fail", "cli-pass"}, nil},
		{append([]string{"run", "-run", "nomatch"}, files...), 2, nil, []string{"cli-"}},
		{append([]string{"run", "-run", "("}, files...), 2, nil, []string{"cli-"}},
		{append([]string{"diff", "-run", "pass"}, files...), 0, []string{"of 1 scenario"}, nil},
		{append([]string{"list", "-run", "pass"}, files...), 0, []string{"cli-pass"}, []string{"cli-fail"}},
		{[]string{"list", "-run", "^anon-fresh-read-zero$"}, 0, []string{"anon-fresh-read-zero  scenarios/anon-fresh-read-zero.fault  first reads"}, []string{"anon-dontneed"}},
	}
	for _, tc := range tests {
		out, errOut, code := runCLI(tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %s", tc.args, code, tc.code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: no %q in\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(out, w) {
				t.Errorf("%v: %q in\n%s", tc.args, w, out)
			}
		}
	}
	_, errOut, _ := runCLI("run", "-run", "nomatch", "testdata/pass.fault")
	if !strings.Contains(errOut, "--run nomatch: no scenario of the 1 file matches") {
		t.Errorf("stderr %q", errOut)
	}
	// A file with errors is reported whatever the pattern.
	_, errOut, code := runCLI("run", "-run", "pass", "testdata/pass.fault", "testdata/bad.fault")
	if code != 2 || !strings.Contains(errOut, "testdata/bad.fault:4:9: ") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestStdin: "-" reads one scenario from standard input, named <stdin>
// in positions, for run, diff and list alike.
func TestStdin(t *testing.T) {
	pass, err := os.ReadFile("testdata/pass.fault")
	if err != nil {
		t.Fatal(err)
	}
	fail, err := os.ReadFile("testdata/fail.fault")
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := runIn(string(pass), "run", "--handler", "native", "-")
	if code != 0 || !strings.Contains(out, "PASS  x86_64   native  cli-pass") {
		t.Errorf("run -: exit %d\n%s", code, out)
	}
	out, _, code = runIn(string(fail), "run", "--arch", "x86_64", "--handler", "native", "-")
	if code != 1 || !strings.Contains(out, stdinName+":6:1: ") {
		t.Errorf("run - (failing): exit %d\n%s", code, out)
	}
	out, _, code = runIn(string(pass), "list", "-", "testdata/fail.fault")
	if code != 0 || !strings.Contains(out, "cli-pass  "+stdinName) || !strings.Contains(out, "cli-fail  testdata/fail.fault") {
		t.Errorf("list -: exit %d\n%s", code, out)
	}
	out, _, code = runIn(string(pass), "diff", "-")
	if code != 0 || !strings.Contains(out, "of 1 scenario") {
		t.Errorf("diff -: exit %d\n%s", code, out)
	}
	tests := []struct {
		stdin string
		args  []string
		want  string
	}{
		{string(pass), []string{"run", "-", "-"}, "standard input is named twice"},
		{"scenario x\nfrobnicate\n", []string{"run", "-"}, stdinName + ":2:1: "},
		{strings.Repeat("#\n", scenario.MaxFileSize/2+1), []string{"run", "-"}, "expected a scenario of at most 1048576 bytes"},
		{"", []string{"list", "-"}, stdinName},
	}
	for _, tc := range tests {
		_, errOut, code := runIn(tc.stdin, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestListJSON(t *testing.T) {
	out, errOut, code := runCLI("list", "--json", "testdata/pass.fault", "testdata/bad.fault", "testdata/no-such.fault")
	if code != 2 || !strings.Contains(errOut, "bad.fault:4:9") || !strings.Contains(errOut, "no-such.fault") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(lines), out)
	}
	var l listed
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("testdata/pass.fault")
	s, err := scenario.Parse("testdata/pass.fault", src)
	if err != nil {
		t.Fatal(err)
	}
	want := listed{Name: s.Name, File: "testdata/pass.fault", Line: s.Pos.Line, About: s.About, Arches: s.Arches}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("got %+v, want %+v", l, want)
	}
	// The corpus: every scenario once.
	out, _, code = runCLI("list", "--json")
	if n := strings.Count(out, "\n"); code != 0 || n < 120 {
		t.Errorf("list --json: exit %d, %d lines", code, n)
	}
}

// TestConformMissingPath: a path that cannot be read is an error of its
// own for conform as for run: with nothing else to run, exit 2 without
// setting up the host, naming the path.
func TestConformMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such.fault")
	for _, cmd := range []string{"run", "conform"} {
		_, errOut, code := runCLI(cmd, missing)
		if code != 2 || !strings.Contains(errOut, "no-such.fault: no such file or directory") {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, errOut)
		}
	}
}

// TestConformMissingPathRuns: with a readable file beside it, the missing
// path is reported and the readable one still runs, exit 2, as run does.
// It runs on the host (under the shared lock, as all of this package's
// tests).
func TestConformMissingPathRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the host kernel is the oracle only on Linux")
	}
	out, errOut, code := runCLI("conform", "testdata/no-such.fault", "testdata/pass.fault")
	if strings.Contains(errOut, "faultline:") && code == 2 && !strings.Contains(out, "cli-pass") {
		t.Skipf("this host cannot run scenarios: %s", errOut)
	}
	if code != 2 || !strings.Contains(errOut, "testdata/no-such.fault") || !strings.Contains(out, "AGREE               cli-pass") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestDiffSelectionNamed: a diff report of a selection says so.
func TestDiffSelectionNamed(t *testing.T) {
	out, _, code := runCLI("diff", "--markdown", "-run", "^anon-fresh-read-zero$")
	if code != 0 || !strings.Contains(out, "on the scenarios of the built-in corpus whose names match `-run ^anon-fresh-read-zero$`") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
