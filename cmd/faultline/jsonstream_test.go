package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/guest"
	"github.com/faultline/faultline/stream"
)

// required are the fields every line of a type and command has.
var required = map[string][]string{
	"error/":             {"message", "text"},
	"scenario/run":       {"scenario", "file", "arch", "handler", "status", "statements", "checked", "duration_ns"},
	"summary/run":        {"scenarios", "runs", "passed", "failed", "skipped", "errors", "timed_out", "checked", "handlers", "file_errors", "seconds"},
	"host/conform":       {"arch", "kernel", "root", "model", "config"},
	"scenario/conform":   {"scenario", "file", "arch", "kernel", "class"},
	"summary/conform":    {"arch", "kernel", "scenarios", "agree", "model_wrong", "expectation_wrong", "generic_unexplained", "generic_by_rule", "skipped", "errors", "timed_out", "file_errors", "seconds"},
	"difference/diff":    {"scenario", "file", "line", "column", "pos", "statement", "arch", "kernel", "native", "generic", "rule"},
	"not_compared/diff":  {"scenario", "file", "arch", "reason", "compared"},
	"summary/diff":       {"arches", "scenarios", "pairs", "compared", "compared_by_arch", "differences", "consequences", "unexplained", "not_compared", "timed_out", "file_errors", "matrix"},
	"outcome":            {"text", "kind"},
	"statement/failures": {"file", "line", "column", "pos", "statement", "expected", "actual"},
	"statement/diffs":    {"file", "line", "column", "pos", "statement", "expected", "host", "model", "host_ok", "model_ok"},
	"statement/generic":  {"file", "line", "column", "pos", "statement", "host", "generic", "rule", "documented"},
}

// outcomeFields are the fields whose values are outcomes.
var outcomeFields = []string{"expected", "actual", "host", "model", "generic", "native"}

// checkStream checks that every line of out is a JSON object of a
// documented type with its fields (each documented in docs/json.md),
// that outcomes are objects, and that the last line is command's
// summary; it returns the lines read back.
func checkStream(t *testing.T, command, out string) []stream.Record {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	var has func(obj map[string]any, kind string)
	has = func(obj map[string]any, kind string) {
		t.Helper()
		fields, ok := required[kind]
		if !ok {
			t.Errorf("no fields known for %s", kind)
		}
		for _, f := range fields {
			if _, ok := obj[f]; !ok {
				t.Errorf("a %s object lacks %q: %v", kind, f, obj)
			}
		}
		for f, v := range obj {
			if !strings.Contains(string(doc), "`"+f+"`") {
				t.Errorf("field %q of a %s object is not in docs/json.md", f, kind)
			}
			inStatement := strings.HasPrefix(kind, "statement/") || kind == "difference/diff"
			if inStatement && slices.Contains(outcomeFields, f) {
				if o, ok := v.(map[string]any); ok {
					has(o, "outcome")
				} else {
					t.Errorf("%s of a %s object is not an outcome object: %v", f, kind, v)
				}
			}
			if list, ok := v.([]any); ok && required["statement/"+f] != nil {
				for _, x := range list {
					if o, ok := x.(map[string]any); ok {
						has(o, "statement/"+f)
					} else {
						t.Errorf("%s of a %s object: %v is not an object", f, kind, x)
					}
				}
			}
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", i+1, err, l)
		}
		typ, _ := obj["type"].(string)
		cmd, _ := obj["command"].(string)
		if cmd != command {
			t.Errorf("line %d: command %q, want %q", i+1, cmd, command)
		}
		kind := typ + "/" + cmd
		if typ == stream.TypeError {
			kind = "error/"
		}
		has(obj, kind)
	}
	var recs []stream.Record
	if err := stream.Read(strings.NewReader(out), "stdout", func(r stream.Record) error {
		if r.Value == nil {
			t.Errorf("line %d: type %q of %q is not one the reader knows", r.Line, r.Head.Type, r.Head.Command)
		}
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Head.Type != stream.TypeSummary {
		t.Fatalf("the stream does not end with its summary:\n%s", out)
	}
	return recs
}

func TestRunJSON(t *testing.T) {
	out, errOut, code := runCLI("run", "--json", "--handler", "generic", "testdata/fail.fault", "testdata/bad.fault")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if errOut != "" {
		t.Errorf("stderr is not empty: %s", errOut)
	}
	recs := checkStream(t, "run", out)
	var errs []*stream.Error
	var reps []*stream.RunScenario
	var sum *stream.RunSummary
	for _, r := range recs {
		switch v := r.Value.(type) {
		case *stream.Error:
			errs = append(errs, v)
		case *stream.RunScenario:
			reps = append(reps, v)
		case *stream.RunSummary:
			sum = v
		}
	}
	if len(errs) != 2 || errs[0].File != "testdata/bad.fault" || errs[0].Line != 4 || errs[0].Column != 9 || errs[1].Line != 5 || errs[1].Column != 6 {
		t.Errorf("file errors %+v", errs)
	}
	if len(reps) != 1 {
		t.Fatalf("%d scenario lines, want 1 (x86_64 only, generic)", len(reps))
	}
	r := reps[0]
	if r.Scenario != "cli-fail" || r.Arch != "x86_64" || r.Handler != "generic" || r.Kernel != "6.18" || r.Status != "fail" || len(r.Failures) != 1 {
		t.Fatalf("report %+v", r)
	}
	f := r.Failures[0]
	if f.File != "testdata/fail.fault" || f.Line != 6 || f.Column != 1 || f.Statement != "write A 1 => ok" {
		t.Errorf("failure at %+v", f)
	}
	if f.Expected.Kind != stream.KindOK || f.Actual.Kind != stream.KindSignal || f.Actual.Signal != "SIGSEGV" || f.Actual.Code != "SEGV_ACCERR" ||
		f.Actual.Address == nil || f.Actual.Address.Region != "A" || f.Actual.Address.Offset != 0 || !strings.HasPrefix(f.Actual.Address.Value, "0x") {
		t.Errorf("outcomes: expected %+v, actual %+v", f.Expected, f.Actual)
	}
	if sum.Failed != 1 || sum.FileErrors != 1 || len(sum.Handlers) != 1 || sum.Handlers["generic"].Failed != 1 {
		t.Errorf("summary %+v", sum)
	}
}

// TestRunJSONLines: a line per scenario × arch × handler, in order, then
// the summary.
func TestRunJSONLines(t *testing.T) {
	out, _, code := runCLI("run", "--json", "testdata/pass.fault", "testdata/skip.fault")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	recs := checkStream(t, "run", out)
	var got []string
	for _, r := range recs {
		if s, ok := r.Value.(*stream.RunScenario); ok {
			got = append(got, s.Scenario+" "+s.Arch+" "+s.Handler+" "+s.Status)
		}
	}
	want := []string{
		"cli-pass x86_64 native pass", "cli-pass x86_64 generic pass",
		"cli-pass riscv64 native pass", "cli-pass riscv64 generic pass",
		"cli-pass arm64 native pass", "cli-pass arm64 generic pass",
		"cli-pass s390x native pass", "cli-pass s390x generic pass",
		"cli-pass ppc64le native pass", "cli-pass ppc64le generic pass",
	}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("scenario lines:\n%s\nwant first:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, g := range got[len(want):] {
		if !strings.HasSuffix(g, " skip") {
			t.Errorf("skip.fault: %s", g)
		}
	}
	sum := recs[len(recs)-1].Value.(*stream.RunSummary)
	if sum.Runs != len(got) || sum.Passed != len(want) || sum.Skipped != len(got)-len(want) || sum.Handlers["native"].Runs != len(got)/2 {
		t.Errorf("summary %+v for %d lines", sum, len(got))
	}
}

func TestDiffJSON(t *testing.T) {
	out, errOut, code := runCLI("diff", "--json", "testdata/pass.fault", "../../scenarios/hwpoison-4k.fault", "testdata/bad.fault")
	if code != 2 {
		t.Fatalf("exit %d, want 2 (a file error)", code)
	}
	if errOut != "" {
		t.Errorf("stderr is not empty: %s", errOut)
	}
	recs := checkStream(t, "diff", out)
	var diffs []*stream.Difference
	var nerr int
	for _, r := range recs {
		switch v := r.Value.(type) {
		case *stream.Difference:
			diffs = append(diffs, v)
		case *stream.Error:
			nerr++
		}
	}
	if len(diffs) == 0 {
		t.Fatalf("no difference in hwpoison-4k:\n%s", out)
	}
	d := diffs[0]
	if d.Scenario != "hwpoison-4k" || d.Arch != "riscv64" || d.Rule != "poison-as-adrerr" || d.Line == 0 || d.Column != 1 ||
		d.Native.Code != "BUS_ADRERR" || d.Generic.Code != "BUS_MCEERR_AR" || d.Generic.LSB == nil || *d.Generic.LSB != 12 {
		t.Errorf("difference %+v", d)
	}
	sum := recs[len(recs)-1].Value.(*stream.DiffSummary)
	if sum.Differences != len(diffs) || sum.Matrix["poison-as-adrerr"]["riscv64"]+sum.Matrix["poison-as-adrerr"]["s390x"] != len(diffs) || sum.FileErrors != nerr || nerr == 0 || sum.Scenarios != 2 {
		t.Errorf("summary %+v, %d differences, %d error lines", sum, len(diffs), nerr)
	}
}

// TestConformJSON runs the oracle when this machine can: the host line,
// one line per scenario with its class and outcomes, the summary.
func TestConformJSON(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the host kernel is the oracle only on Linux")
	}
	out, errOut, code := runCLI("conform", "--json", "testdata/pass.fault", "testdata/fail.fault")
	if code == 2 && strings.Contains(errOut, "faultline:") {
		t.Skipf("this host cannot run scenarios: %s", errOut)
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out, errOut)
	}
	recs := checkStream(t, "conform", out)
	h, ok := recs[0].Value.(*stream.Host)
	if !ok || h.Arch != "x86_64" && h.Arch != "arm64" && h.Arch != "riscv64" || h.Kernel == "" || h.Config["kernel"] == "" {
		t.Fatalf("first line %+v", recs[0].Value)
	}
	var classes []string
	for _, r := range recs {
		if s, ok := r.Value.(*stream.ConformScenario); ok {
			classes = append(classes, s.Class)
			if s.Kernel != h.Kernel || s.Arch != h.Arch {
				t.Errorf("scenario %s: arch %s kernel %s, host %s %s", s.Scenario, s.Arch, s.Kernel, h.Arch, h.Kernel)
			}
			if s.Class != "expectation wrong" {
				continue
			}
			if len(s.Diffs) != 1 {
				t.Fatalf("diffs %+v", s.Diffs)
			}
			d := s.Diffs[0]
			if d.Line != 6 || d.Expected.Kind != stream.KindOK || d.Host.Code != "SEGV_ACCERR" || d.Model.Code != "SEGV_ACCERR" || d.Generic == nil || d.Generic.Code != "SEGV_ACCERR" {
				t.Errorf("disagreement %+v (generic %+v)", d, d.Generic)
			}
		}
	}
	if !slices.Equal(classes, []string{"agree", "expectation wrong"}) {
		t.Errorf("classes %v", classes)
	}
	sum := recs[len(recs)-1].Value.(*stream.ConformSummary)
	if sum.Agree != 1 || sum.ExpectationWrong != 1 || sum.Scenarios != 2 || sum.Arch != h.Arch || sum.Kernel != h.Kernel {
		t.Errorf("summary %+v", sum)
	}
}

// TestJSONHelp: each command that prints a stream points to its schema.
func TestJSONHelp(t *testing.T) {
	for _, cmd := range []string{"run", "conform", "diff", "report"} {
		out, _, code := runCLI("help", cmd)
		if code != 0 || !strings.Contains(out, "docs/json.md") {
			t.Errorf("help %s does not point to docs/json.md:\n%s", cmd, out)
		}
	}
}

// TestGuestJSON: conform --arch's stream (written after the guest's
// boot, from its results) has the guest's kernel on its host line and
// the documented fields, without booting one here.
func TestGuestJSON(t *testing.T) {
	info := guestInfo{Spec: guest.Spec{Arch: "arm64", Suite: "bookworm", Version: "6.1"}, Release: "6.1.0-57-arm64",
		Packages: []guest.Package{{Name: "linux-image-6.1.0-57-arm64", Version: "6.1.192-3"}}, Host: json.RawMessage(`{"arch":"arm64"}`),
		BootSeconds: 4.4, Seconds: 74, Notes: []string{"kernel config: from the package"}}
	h := &guest.HostInfo{Arch: "arm64", Kernel: "6.1.0-57-arm64", Root: true, Missing: map[string]string{"guard": "no MADV_GUARD_INSTALL"}, Notes: []string{"wchan"}}
	cfg := config.Default()
	results := []conform.Result{
		{Scenario: "a", File: "a.fault", Arch: "arm64", Model: "native", Class: conform.Agree},
		{Scenario: "b", File: "b.fault", Arch: "arm64", Model: "native", Class: conform.ModelWrong,
			Diffs: []conform.Diff{{Pos: "b.fault:3:1", Stmt: "read A", Expected: "ok", Host: "SIGSEGV SEGV_ACCERR @A", Model: "ok", Generic: "ok", ModelOK: true}}},
	}
	var b strings.Builder
	sum := conformSummary{Agree: 1, ModelWrong: 1}
	if err := writeConformStream(&b, guestHostLine(info, h, cfg), results, []string{"c.fault:1:1: bad"}, sum); err != nil {
		t.Fatal(err)
	}
	recs := checkStream(t, "conform", b.String())
	host := recs[0].Value.(*stream.Host)
	if host.Arch != "arm64" || host.Kernel != "6.1.0-57-arm64" || host.Guest == nil || host.Guest.Suite != "bookworm" ||
		len(host.Guest.Packages) != 1 || host.Guest.Packages[0].Version != "6.1.192-3" || len(host.Notes) != 2 || host.Config["kernel"] == "" {
		t.Errorf("host line %+v (guest %+v)", host, host.Guest)
	}
	if e, ok := recs[1].Value.(*stream.Error); !ok || e.File != "c.fault" || e.Line != 1 {
		t.Errorf("line 2: %+v", recs[1].Value)
	}
	s := recs[3].Value.(*stream.ConformScenario)
	if s.Class != "model wrong" || s.Kernel != host.Kernel || s.Diffs[0].Host.Code != "SEGV_ACCERR" || s.Diffs[0].Generic == nil || s.Diffs[0].Generic.Kind != stream.KindOK {
		t.Errorf("scenario line %+v", s)
	}
	if sum := recs[len(recs)-1].Value.(*stream.ConformSummary); sum.ModelWrong != 1 || sum.Scenarios != 2 || sum.Arch != "arm64" {
		t.Errorf("summary %+v", sum)
	}
}
