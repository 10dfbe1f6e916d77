package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/scenario"
)

// TestObserveCLI: observe prints a wrong file back right, run --observe
// prints the same, the result passes under run, and the options that
// make no sense together are usage errors.
func TestObserveCLI(t *testing.T) {
	out, errOut, code := runCLI("observe", "testdata/fail.fault")
	if code != 0 {
		t.Fatalf("observe: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "write A 1       => SIGSEGV SEGV_ACCERR @A\n") {
		t.Errorf("the wrong expectation was not replaced by the outcome:\n%s", out)
	}
	same, _, code := runCLI("run", "--observe", "testdata/fail.fault")
	if code != 0 || same != out {
		t.Errorf("run --observe: exit %d, output\n%s\nwant observe's\n%s", code, same, out)
	}
	path := filepath.Join(t.TempDir(), "fail.fault")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, e, code := runCLI("run", path); code != 0 {
		t.Errorf("run of the observed file: exit %d\n%s%s", code, o, e)
	}
	dir := t.TempDir()
	if _, e, code := runCLI("observe", "--arch", "x86_64", "--handler", "native", "--out", dir, "testdata/fail.fault", "testdata/pass.fault"); code != 0 {
		t.Fatalf("observe --out: exit %d: %s", code, e)
	}
	for _, n := range []string{"fail.fault", "pass.fault"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scenario.Parse(n, b); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	for _, args := range [][]string{
		{"run", "--host", "testdata/pass.fault"},
		{"run", "--observe", "--json", "testdata/pass.fault"},
		{"observe", "--host", "--arch", "x86_64", "testdata/pass.fault"},
		{"observe", "--handler", "neither", "testdata/pass.fault"},
		{"observe", "testdata/bad.fault"},
	} {
		if _, _, code := runCLI(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if out, _, _ := runCLI("help", "observe"); !strings.Contains(out, "--host") || !strings.Contains(out, "herd7") {
		t.Errorf("help observe:\n%s", out)
	}
}

// hostObserved are corpus scenarios of every kind of outcome: signals at
// named addresses, uffd events, byte counts, fault counts, caught
// signals, waits, SIGBUS, memory cgroups and hugetlb (root).
var hostObserved = []string{"stack-guard-gap", "growsdown-guard-gap-hit", "faults-major", "faults-uffd-wait",
	"uffd-missing-copy", "uffd-wp", "uffd-signal-user", "signal-catch-sigusr1", "kread-short-count",
	"kwrite-short-count", "file-eof", "hugetlb-fault", "memcg-oom-user", "uffd-event-background"}

// spoilExp replaces every expectation but a wait's by a wrong one of the
// right form.
var spoilExp = regexp.MustCompile(`(?m)^(\s*(?:[a-zA-Z0-9_.-]+:\s+)?)(\w+)([^#\n]*?)\s+\S*=>[^#\n]*`)

func spoil(src string) string {
	return spoilExp.ReplaceAllStringFunc(src, func(line string) string {
		m := spoilExp.FindStringSubmatch(line)
		switch m[2] {
		case "wait":
			return line
		case "caught":
			return m[1] + m[2] + m[3] + " => 999 "
		case "faults":
			return m[1] + m[2] + m[3] + " => minflt=999 majflt=999 "
		}
		return m[1] + m[2] + m[3] + " => killed SIGUSR2 "
	})
}

// TestObserveHost: corpus scenarios whose expectations are all spoiled,
// observed on this machine's kernel, agree under conform. Run it under
// the shared lock (it runs on the host).
func TestObserveHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the host kernel is the oracle only on Linux")
	}
	in, out := t.TempDir(), t.TempDir()
	var files []string
	for _, n := range hostObserved {
		src, err := os.ReadFile(filepath.Join("..", "..", "scenarios", n+".fault"))
		if err != nil {
			t.Fatal(err)
		}
		bad := spoil(string(src))
		if !strings.Contains(bad, "SIGUSR2") {
			t.Fatalf("%s: nothing spoiled:\n%s", n, bad)
		}
		p := filepath.Join(in, n+".fault")
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	_, errOut, code := runCLI(append([]string{"observe", "--host", "--out", out}, files...)...)
	if code == 2 && strings.Contains(errOut, "faultline:") {
		t.Skipf("this host cannot run scenarios: %s", errOut)
	}
	if code != 0 {
		t.Fatalf("observe --host: exit %d: %s", code, errOut)
	}
	h, err := conform.Detect(context.Background())
	if err != nil {
		t.Skipf("this host cannot run scenarios: %v", err)
	}
	defer h.Close()
	for _, n := range hostObserved {
		p := filepath.Join(out, n+".fault")
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scenario.Parse(p, src)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		res := conform.RunOne(context.Background(), h, s)
		switch {
		case res.Class == conform.Agree:
		case res.Class == conform.Skipped && strings.Contains(string(src), "# observe: host"):
			t.Logf("%s: skipped on this host: %s", n, res.Reason)
		default:
			t.Errorf("%s: %s %s %+v\n%s", n, res.Class, res.Reason, res.Diffs, src)
		}
	}
}
