//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/bench"
)

// haveCC reports whether a C compiler is there for the executor.
func haveCC() bool {
	for _, cc := range []string{"cc", "gcc"} {
		if _, err := exec.LookPath(cc); err == nil {
			return true
		}
	}
	return os.Getenv("CC") != ""
}

// TestBenchSignalTearsDown interrupts bench during a long host run and
// checks that it exits 128+signal, its executor's processes (a forked
// child among them) gone and its run directory removed.
func TestBenchSignalTearsDown(t *testing.T) {
	if !haveCC() {
		t.Skip("no C compiler for the executor")
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(sigName(tc.sig), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "bench", "--host-only", "-run", "cow-fork", "--ops", "50000000", "--runs", "1000")
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			// The header comes once the executor runs.
			r := bufio.NewReader(out)
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatalf("no header: %v (stderr %s)", err, stderr.String())
			}
			go func() {
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
				}
			}()
			pid := cmd.Process.Pid
			var groups map[int]bool
			deadline := time.Now().Add(30 * time.Second)
			for {
				groups = childGroups(pid)
				if len(groups) > 0 && len(leftovers(pid, groups)) >= 2 {
					break // the run directory and the executor's processes
				}
				if time.Now().After(deadline) {
					t.Fatalf("the host run never got under way (stderr %s)", stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // into the workload
			stopBySignal(t, "bench", cmd, tc.sig, tc.code, &stderr, groups)
		})
	}
}

// TestBenchWithoutCompiler: when the executor cannot be built, the host
// column says why and the model's numbers still print (exit 0).
func TestBenchWithoutCompiler(t *testing.T) {
	home := t.TempDir() // no cached executor to reuse
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", home+"/cache")
	t.Setenv("CC", home+"/no-such-cc")
	out, errOut, code := runCLI("bench", "--ops", "32", "--runs", "1", "-run", "anon")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "host: ") || !strings.Contains(out, "build executor") {
		t.Errorf("no reason for the missing host in\n%s", out)
	}
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "anon-write ") {
			row = strings.Fields(line)
		}
	}
	if len(row) != 7 || row[1] == "-" || row[3] != "-" {
		t.Errorf("anon-write row %v in\n%s", row, out)
	}
}

// TestBenchBothSides runs two workloads on the model and the host: each
// JSON record has both sides' numbers, one fault per op counted on each,
// and their ratio; the text table of --host-only says once that the
// model did not run.
func TestBenchBothSides(t *testing.T) {
	if !haveCC() {
		t.Skip("no C compiler for the executor")
	}
	out, errOut, code := runCLI("bench", "--json", "--ops", "100", "--runs", "2", "-run", "anon|file")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec bench.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		n++
		for _, side := range []bench.SideRecord{rec.Model, rec.Host} {
			if side.OpsPerSec == nil || len(side.Faults) != 2 || side.Faults[0] != 100 || side.Faults[1] != 100 || side.Mismatch != "" {
				t.Errorf("%s: side %+v", rec.Workload, side)
			}
		}
		if rec.Ratio == nil || rec.Kernel == "" {
			t.Errorf("%s: no ratio or kernel: %s", rec.Workload, line)
		}
	}
	if n != 2 {
		t.Errorf("%d records, want 2:\n%s", n, out)
	}

	out, errOut, code = runCLI("bench", "--host-only", "--ops", "64", "--runs", "1", "-run", "^anon")
	if code != 0 || !strings.Contains(out, "model not run (--host-only)") || strings.Contains(out, "anon-write, model") {
		t.Errorf("--host-only: exit %d, stderr %s:\n%s", code, errOut, out)
	}
}
