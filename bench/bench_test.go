package bench

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/machine"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want Stats
	}{
		{nil, Stats{}},
		{[]float64{3}, Stats{3, 3, 3}},
		{[]float64{4, 2}, Stats{2, 3, 4}},
		{[]float64{5, 1, 3}, Stats{1, 3, 5}},
		{[]float64{9, 1, 7, 3}, Stats{1, 5, 9}},
		{[]float64{2, 2, 2, 8, 1}, Stats{1, 2, 8}},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Summarize(%v) reordered its input", in)
		}
	}
}

// TestSummarizeProperties: min ≤ median ≤ max, each within the inputs,
// whatever their order.
func TestSummarizeProperties(t *testing.T) {
	xs := []float64{}
	for i := range 40 {
		xs = append(xs, float64((i*7919)%97))
		s := Summarize(xs)
		if !(s.Min <= s.Median && s.Median <= s.Max) || s.Min != slices.Min(xs) || s.Max != slices.Max(xs) {
			t.Fatalf("Summarize(%v) = %+v", xs, s)
		}
	}
}

func TestRatio(t *testing.T) {
	got := Ratio(Stats{2, 6, 9}, Stats{4, 3, 0})
	if got.Min != 0.5 || got.Median != 2 || !math.IsNaN(got.Max) {
		t.Errorf("Ratio = %+v, want {0.5 2 NaN}", got)
	}
}

func TestSampleRate(t *testing.T) {
	tests := []struct {
		s    Sample
		want float64
	}{
		{Sample{Ops: 1000, Elapsed: time.Second}, 1000},
		{Sample{Ops: 500, Elapsed: time.Second / 4}, 2000},
		{Sample{Ops: 5}, 0},
	}
	for _, tc := range tests {
		if got := tc.s.Rate(); got != tc.want {
			t.Errorf("%+v.Rate() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestWorkloadsAndSelect(t *testing.T) {
	names := func(ws []Workload) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Name)
		}
		return out
	}
	all := []string{"anon-write", "cow-fork", "file-read-cached", "uffd-missing", "threads-1", "threads-4", "procs-4"}
	if got := names(Workloads(4)); !slices.Equal(got, all) {
		t.Errorf("Workloads(4) = %v, want %v", got, all)
	}
	if got := names(Workloads(1)); !slices.Equal(got, all[:5]) {
		t.Errorf("Workloads(1) = %v, want %v", got, all[:5])
	}
	if got := names(Select(Workloads(2), regexp.MustCompile("^threads"))); !slices.Equal(got, []string{"threads-1", "threads-2"}) {
		t.Errorf("Select ^threads = %v", got)
	}
	if got := Select(Workloads(2), nil); len(got) != 7 {
		t.Errorf("Select nil kept %d", len(got))
	}
	for _, w := range Workloads(3) {
		if w.About == "" || (w.Kind == Threads) != (w.hostName() == "threads") || (w.Kind == Procs) != (w.hostName() == "procs") {
			t.Errorf("%s: about %q, host name %q", w.Name, w.About, w.hostName())
		}
	}
}

func TestCheckOps(t *testing.T) {
	tests := []struct {
		ops     uint64
		threads int
		ok      bool
	}{
		{65536, 2, true},
		{1, 1, true},
		{MaxOps, MaxThreads, true},
		{0, 1, false},
		{MaxOps + 1, 1, false},
		{100, 0, false},
		{100, MaxThreads + 1, false},
		{3, 4, false},
	}
	for _, tc := range tests {
		if err := CheckOps(tc.ops, tc.threads); (err == nil) != tc.ok {
			t.Errorf("CheckOps(%d, %d) = %v, want ok=%v", tc.ops, tc.threads, err, tc.ok)
		}
	}
}

func TestCommand(t *testing.T) {
	ws := Workloads(3)
	want := []string{"bench anon-write 100 1", "bench cow-fork 100 1", "bench file-read-cached 100 1",
		"bench uffd-missing 100 1", "bench threads 100 1", "bench threads 100 3", "bench procs 100 3"}
	for i, w := range ws {
		if got := Command(w, 100); got != want[i] {
			t.Errorf("%s: %q, want %q", w.Name, got, want[i])
		}
	}
}

func TestParseHostReply(t *testing.T) {
	anon, uffd := Workloads(1)[0], Workloads(1)[3]
	tests := []struct {
		w      Workload
		reply  host.Reply
		sample Sample
		skip   bool
		err    bool
	}{
		{anon, host.Reply{Kind: "ok", Vals: []uint64{2e9, 100}}, Sample{Ops: 100, Faults: 100, Elapsed: 2 * time.Second}, false, false},
		{anon, host.Reply{Kind: "ok", Vals: []uint64{5}}, Sample{}, false, true},
		{anon, host.Reply{Kind: "err", Errno: syscall.ENOMEM}, Sample{}, false, true},
		{anon, host.Reply{Kind: "err", Errno: syscall.EPERM}, Sample{}, false, true},
		{uffd, host.Reply{Kind: "err", Errno: syscall.EPERM}, Sample{}, true, true},
		{uffd, host.Reply{Kind: "err", Errno: syscall.ENOSYS}, Sample{}, true, true},
		{uffd, host.Reply{Kind: "proto", Line: "proto bench: unknown"}, Sample{}, false, true},
	}
	for _, tc := range tests {
		s, err := ParseHostReply(tc.w, 100, tc.reply)
		if s != tc.sample || (err != nil) != tc.err || IsSkip(err) != tc.skip {
			t.Errorf("%s %+v: %+v, %v; want %+v, err %v, skip %v", tc.w.Name, tc.reply, s, err, tc.sample, tc.err, tc.skip)
		}
	}
}

// TestRunModelOnly: the runner measures each side Runs times (not the
// warm-up), computes threads-N's scaling, and leaves the host missing
// with the reason given, without a ratio.
func TestRunModelOnly(t *testing.T) {
	m := &Model{Arch: machine.Arches()[0], Handler: machine.Generic, Config: config.Default()}
	c := Config{Workloads: Select(Workloads(2), regexp.MustCompile("anon|threads|procs")), Ops: 64, Runs: 3, Model: m, HostMissing: "no host here"}
	var seen []string
	res := Run(context.Background(), c, func(r Result) { seen = append(seen, r.Workload.Name) })
	if want := []string{"anon-write", "threads-1", "threads-2", "procs-2"}; !slices.Equal(seen, want) {
		t.Fatalf("results for %v, want %v", seen, want)
	}
	for _, r := range res {
		if !r.Model.Ran() || len(r.Model.Rates) != 3 || len(r.Model.Faults) != 3 || r.Model.Mismatch != "" {
			t.Errorf("%s: model %+v", r.Workload.Name, r.Model)
		}
		for _, f := range r.Model.Faults {
			if f != 64 {
				t.Errorf("%s: %d faults, want 64", r.Workload.Name, f)
			}
		}
		if r.Host.Ran() || r.Host.Missing != "no host here" || r.Host.Failed || r.Ratio != nil || r.HostScaling != nil {
			t.Errorf("%s: host %+v, ratio %v", r.Workload.Name, r.Host, r.Ratio)
		}
		if (r.ModelScaling != nil) != (r.Workload.Name == "threads-2" || r.Workload.Name == "procs-2") {
			t.Errorf("%s: model scaling %v", r.Workload.Name, r.ModelScaling)
		}
	}
}

// TestRunInterrupted: a cancelled context leaves every side missing,
// "interrupted", not failed.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &Model{Arch: machine.Arches()[0], Handler: machine.Generic, Config: config.Default()}
	res := Run(ctx, Config{Workloads: Workloads(1)[:1], Ops: 8, Runs: 2, Model: m, HostMissing: "x"}, nil)
	if len(res) != 1 || res[0].Model.Missing != "interrupted" || res[0].Model.Failed || res[0].Model.Ran() {
		t.Errorf("got %+v", res)
	}
}

// TestRecordSchema: a record carries the fields docs/json.md lists, with
// the side that did not run reduced to its reason, and never NaN.
func TestRecordSchema(t *testing.T) {
	one, two := 2.0, 0.5
	r := Result{
		Workload: Workloads(2)[5], Ops: 10, Runs: 2,
		Model:        Side{Rates: []float64{1, 3}, Stats: Summarize([]float64{1, 3}), Faults: []uint64{10, 10}},
		Host:         Side{Rates: []float64{2, 2}, Stats: Summarize([]float64{2, 2}), Faults: []uint64{10, 11}, Mismatch: "11 faults counted for 10 ops"},
		Ratio:        &Stats{0.5, 1, 1.5},
		ModelScaling: &one, HostScaling: &two,
	}
	b, err := json.Marshal(r.Record("x86_64", "6.18", "generic"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "command", "workload", "about", "arch", "kernel", "handler", "ops", "runs", "threads", "model", "host", "ratio", "scaling"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if m["type"] != "bench" || m["command"] != "bench" || m["workload"] != "threads-2" || m["threads"] != 2.0 {
		t.Errorf("header fields: %s", b)
	}
	model := m["model"].(map[string]any)
	for _, k := range []string{"ops_per_sec", "runs_ops_per_sec", "faults"} {
		if _, ok := model[k]; !ok {
			t.Errorf("no model.%s in %s", k, b)
		}
	}
	if ops := model["ops_per_sec"].(map[string]any); ops["min"] != 1.0 || ops["median"] != 2.0 || ops["max"] != 3.0 {
		t.Errorf("model.ops_per_sec = %v", ops)
	}
	if m["host"].(map[string]any)["mismatch"] != "11 faults counted for 10 ops" {
		t.Errorf("host mismatch missing: %s", b)
	}
	if sc := m["scaling"].(map[string]any); sc["model"] != 2.0 || sc["host"] != 0.5 {
		t.Errorf("scaling = %v", sc)
	}

	// The host missing, a NaN ratio: no numbers, no ratio, valid JSON.
	r.Host = Side{Missing: "host: host runs need Linux"}
	r.Ratio = &Stats{math.NaN(), 1, 1}
	r.HostScaling = nil
	b, err = json.Marshal(r.Record("x86_64", "", "native"))
	if err != nil {
		t.Fatal(err)
	}
	m = map[string]any{}
	json.Unmarshal(b, &m)
	h := m["host"].(map[string]any)
	if _, ok := m["ratio"]; ok || h["missing"] != "host: host runs need Linux" || len(h) != 1 {
		t.Errorf("host missing: %s", b)
	}
	if _, ok := m["kernel"]; ok {
		t.Errorf("empty kernel not omitted: %s", b)
	}
	if _, ok := m["scaling"].(map[string]any)["host"]; ok {
		t.Errorf("host scaling not omitted: %s", b)
	}
}
