package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline/faultline/bench"
)

// TestBenchUsage: bad flags are usage errors (exit 2) that say what is
// wrong, before anything runs.
func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--model-only", "--host-only"}, "choose one"},
		{[]string{"--runs", "0"}, "--runs 0"},
		{[]string{"--ops", "0"}, "--ops 0"},
		{[]string{"--ops", "3", "--threads", "4"}, "fewer than --threads"},
		{[]string{"--threads", "0"}, "--threads 0"},
		{[]string{"--threads", "65"}, "--threads 65"},
		{[]string{"-run", "("}, "--run (:"},
		{[]string{"-run", "nosuch"}, "no workload matches"},
		{[]string{"--handler", "fast"}, "--handler"},
		{[]string{"extra"}, "unknown command"},
	}
	for _, tc := range tests {
		out, errOut, code := runCLI(append([]string{"bench"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("bench %v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestBenchSelection: -run picks workloads by name, and threads-N brings
// its reference threads-1 along.
func TestBenchSelection(t *testing.T) {
	tests := []struct {
		pattern string
		threads int
		want    []string
	}{
		{"", 2, []string{"anon-write", "cow-fork", "file-read-cached", "uffd-missing", "threads-1", "threads-2", "procs-2"}},
		{"", 1, []string{"anon-write", "cow-fork", "file-read-cached", "uffd-missing", "threads-1"}},
		{"anon|cow", 2, []string{"anon-write", "cow-fork"}},
		{"threads-3", 3, []string{"threads-1", "threads-3"}},
		{"^threads-1$", 3, []string{"threads-1"}},
		{"procs", 2, []string{"threads-1", "procs-2"}},
		{"uffd", 2, []string{"uffd-missing"}},
	}
	for _, tc := range tests {
		c, _, err := benchSetup(benchFlags{runs: 1, ops: 100, threads: tc.threads, pattern: tc.pattern, handlerName: "generic"})
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		var got []string
		for _, w := range c.Workloads {
			got = append(got, w.Name)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("-run %q --threads %d: %v, want %v", tc.pattern, tc.threads, got, tc.want)
		}
	}
}

// TestBenchModelOnlyTable: the table has its header, a row per workload
// with the model's numbers, the host's reason once, and the scaling line.
func TestBenchModelOnlyTable(t *testing.T) {
	out, errOut, code := runCLI("bench", "--model-only", "--ops", "64", "--runs", "2", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"faultline bench: host ", "model ", "generic handler",
		"2 runs of 64 faults per workload and side",
		"host: not run (--model-only)",
		"workload                 min    median        min    median      min  median",
		"threads-2 over threads-1 (median): model ×",
		"procs-2 over threads-1 (median): model ×",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	for _, w := range bench.Workloads(2) {
		row := ""
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, w.Name+" ") && row == "" {
				row = line
			}
		}
		f := strings.Fields(row)
		if len(f) != 7 || f[1] == "-" || f[2] == "-" || f[3] != "-" || f[4] != "-" || f[5] != "-" {
			t.Errorf("%s: row %q", w.Name, row)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing blank: %q", line)
		}
	}
}

// TestBenchJSON: --json prints one bench record per workload, each with
// the model's faults equal to the ops asked for and the host missing.
func TestBenchJSON(t *testing.T) {
	out, errOut, code := runCLI("bench", "--json", "--model-only", "--ops", "40", "--runs", "3", "-run", "file|uffd|threads-2", "--handler", "native")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var rec bench.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		names = append(names, rec.Workload)
		if rec.Type != "bench" || rec.Command != "bench" || rec.Ops != 40 || rec.Runs != 3 || rec.Handler != "native" || rec.Arch == "" {
			t.Errorf("header: %s", sc.Text())
		}
		if rec.Model.OpsPerSec == nil || len(rec.Model.Runs) != 3 || rec.Model.Mismatch != "" {
			t.Errorf("model: %s", sc.Text())
		}
		for _, f := range rec.Model.Faults {
			if f != 40 {
				t.Errorf("%s: %d faults, want 40", rec.Workload, f)
			}
		}
		if rec.Host.Missing != "not run (--model-only)" || rec.Host.OpsPerSec != nil || rec.Ratio != nil {
			t.Errorf("host: %s", sc.Text())
		}
		if (rec.Scaling != nil) != (rec.Workload == "threads-2") || rec.Scaling != nil && (rec.Scaling.Model == nil || rec.Scaling.Host != nil) {
			t.Errorf("scaling: %s", sc.Text())
		}
	}
	if strings.Join(names, " ") != "file-read-cached uffd-missing threads-1 threads-2" {
		t.Errorf("workloads %v", names)
	}
}

func TestBenchFormat(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1k"}, {123456, "123k"}, {2.5e6, "2.5M"}, {1.234e9, "1.23G"},
	}
	for _, tc := range tests {
		if got := si(tc.x); got != tc.want {
			t.Errorf("si(%v) = %q, want %q", tc.x, got, tc.want)
		}
	}
}
