package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/runner"
)

// sampleDiff is a diff with one difference of each kind: explained at
// the statement, a consequence, and unexplained.
func sampleDiff() *diffRun {
	return &diffRun{
		source: "the files given", arches: []string{"x86_64", "riscv64"}, scenarios: 2, pairs: 4, compared: 9,
		diffs: []runner.Difference{
			{Scenario: "p", File: "p.fault", Line: 4, Pos: "p.fault:4:1", Stmt: "read A", Arch: "riscv64", Kernel: "6.18",
				Native: "SIGBUS BUS_ADRERR @A lsb=0", Generic: "SIGBUS BUS_MCEERR_AR @A lsb=12", Rule: "poison-as-adrerr", Rules: []string{"poison-as-adrerr"}},
			{Scenario: "q", File: "q.fault", Line: 9, Pos: "q.fault:9:1", Stmt: "wait T", Arch: "riscv64", Kernel: "6.1",
				Native: "livelock", Generic: "killed SIGKILL", Rule: "kernel-retry-fatal-signal", Rules: []string{"kernel-retry-fatal-signal"},
				Consequence: true, NotedAt: []string{"q.fault:8:1"}},
			{Scenario: "q", File: "q.fault", Line: 10, Pos: "q.fault:10:1", Stmt: "read A | b", Arch: "x86_64", Kernel: "6.18",
				Native: "ok 0x1", Generic: "ok 0x2", Rule: runner.Unexplained},
		},
		notCompared: []uncompared{{Scenario: "r", File: "r.fault", Arch: "arm64", Kernel: "6.18", Reason: "architecture not modeled yet"}},
	}
}

func TestDiffOutput(t *testing.T) {
	d := sampleDiff()
	var text, js, md, errb bytes.Buffer
	for f, w := range map[diffFormat]*bytes.Buffer{diffText: &text, diffJSON: &js, diffMarkdown: &md} {
		if err := d.print(w, &errb, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		"DIFF  riscv64  6.18  p\n      p.fault:4:1: read A\n        native:  SIGBUS BUS_ADRERR @A lsb=0\n        generic: SIGBUS BUS_MCEERR_AR @A lsb=12\n        rule:    poison-as-adrerr\n",
		"rule:    kernel-retry-fatal-signal (a consequence: noted at q.fault:8:1)",
		"rule:    unexplained (no rule was noted in the native run)",
		"not compared (1):\n  arm64    6.18  r: architecture not modeled yet\n",
		"3 differences (1 consequence, 1 unexplained) in 9 statements compared",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	// The matrix: a row per rule, counts per arch in column order; the
	// widths follow the longest rule name.
	for _, row := range []string{`(?m)^poison-as-adrerr +0 +1$`, `(?m)^unexplained +1 +0$`} {
		if !regexp.MustCompile(row).MatchString(text.String()) {
			t.Errorf("text lacks a matrix row %s:\n%s", row, text.String())
		}
	}
	for _, r := range arch.Rules() {
		if !strings.Contains(text.String(), "\n"+r.Name+" ") || !strings.Contains(md.String(), "| `"+r.Name+"` | "+strings.Join(r.Arches, ", ")+" |") {
			t.Errorf("rule %s is missing from the matrix or the rule table", r.Name)
		}
	}
	// JSON: a stream, one object per line: a difference line per
	// difference with the keys the issue names, then what was not
	// compared, then the summary; nothing on stderr.
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != len(d.diffs)+2 {
		t.Fatalf("%d JSON lines for %d differences, 1 not compared and the summary:\n%s", len(lines), len(d.diffs), js.String())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		want := map[bool]string{true: "difference", false: "not_compared"}[i < len(d.diffs)]
		if i == len(lines)-1 {
			want = "summary"
		}
		if m["type"] != want || m["command"] != "diff" {
			t.Errorf("line %d: type %v command %v, want %s of diff", i, m["type"], m["command"], want)
		}
		if want != "difference" {
			continue
		}
		for _, k := range []string{"scenario", "file", "line", "column", "arch", "kernel", "native", "generic", "rule"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q: %s", i, k, l)
			}
		}
		if m["rule"] != d.diffs[i].Rule {
			t.Errorf("line %d: rule %v", i, m["rule"])
		}
	}
	if !strings.Contains(lines[len(lines)-1], `"differences":3,"consequences":1,"unexplained":1,"not_compared":1`) {
		t.Errorf("summary line: %s", lines[len(lines)-1])
	}
	if errb.Len() != 0 {
		t.Errorf("stderr:\n%s", errb.String())
	}
	for _, want := range []string{
		"## Summary", "## The rules", "## Differences by rule and architecture", "## The differences", "## Not compared",
		"| rule | x86_64 | riscv64 |", "| `poison-as-adrerr` | 0 | 1 |", "| `unexplained` | 1 | 0 |",
		"### poison-as-adrerr (1)", "### kernel-retry-fatal-signal (1)", "### unexplained (1)",
		"| q | q.fault:10 `read A \\| b` | x86_64 | 6.18 | `ok 0x1` | `ok 0x2` | nowhere |",
		"earlier: q.fault:8:1",
		"| kernel-retry-fatal-signal |", // not a row: the rule table writes the name as code
	} {
		if want == "| kernel-retry-fatal-signal |" {
			if strings.Contains(md.String(), want) {
				t.Errorf("markdown has %q", want)
			}
			continue
		}
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	// Grouped in the table's order, unexplained last.
	md1 := md.String()
	if !(strings.Index(md1, "### poison-as-adrerr") < strings.Index(md1, "### kernel-retry-fatal-signal") &&
		strings.Index(md1, "### kernel-retry-fatal-signal") < strings.Index(md1, "### unexplained")) {
		t.Errorf("groups out of order:\n%s", md1)
	}
}

func TestDiffExit(t *testing.T) {
	code := func(err error) int {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 0
	}
	explained := sampleDiff()
	explained.diffs = explained.diffs[:2]
	withFileErr := sampleDiff()
	withFileErr.fileErrs = []string{"x.fault:1:1: bad"}
	timed := sampleDiff()
	timed.diffs, timed.timedOut = nil, 1
	for _, tc := range []struct {
		name string
		d    *diffRun
		want int
	}{
		{"explained", explained, 0},
		{"unexplained", sampleDiff(), 1},
		{"file error", withFileErr, 2},
		{"timed out", timed, 2},
		{"nothing", &diffRun{}, 0},
	} {
		if got := code(tc.d.exit()); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestDiffCLI(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // in stdout
	}{
		{[]string{"diff", "testdata/pass.fault"}, 0, "x86_64  riscv64    arm64  ppc64le\n"},
		{[]string{"diff", "--arch", "riscv64", "testdata/pass.fault"}, 0, "  riscv64\nfixup-signal-args "},
		{[]string{"diff", "--kernel", "6.1", "testdata/pass.fault"}, 0, " of 1 scenario"},
		{[]string{"diff", "--markdown", "testdata/pass.fault"}, 0, "Generated by `faultline diff --markdown` on the files given"},
		{[]string{"diff", "testdata/bad.fault", "testdata/pass.fault"}, 2, "2 file errors"},
		{[]string{"diff", "testdata/no-such-file.fault"}, 2, ""},
		{[]string{"diff", "--json", "--markdown"}, 2, ""},
		{[]string{"diff", "--kernel", "six"}, 2, ""},
		{[]string{"diff", "--arch", "sparc"}, 2, ""},
	}
	for _, tc := range tests {
		out, errOut, code := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d; stdout lacks %q?\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
		if strings.Contains(out, "in Xs") {
			t.Errorf("%v: the output has a timing:\n%s", tc.args, out)
		}
	}
	// Deterministic: the same files give the same report.
	a, _, _ := runCLI("diff", "testdata/pass.fault", "testdata/fail.fault", "testdata/failskip.fault")
	b, _, _ := runCLI("diff", "testdata/pass.fault", "testdata/fail.fault", "testdata/failskip.fault")
	if a != b {
		t.Errorf("two runs differ:\n%s\n---\n%s", a, b)
	}
	// --json: only JSON objects on stdout.
	out, _, _ := runCLI("diff", "--json", "testdata/pass.fault", "testdata/fail.fault")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if l != "" && json.Unmarshal([]byte(l), &m) != nil {
			t.Errorf("not a JSON object: %q", l)
		}
	}
}

// TestConversionReport regenerates docs/conversion-report.md, the diff of
// the corpus, and fails when the file is stale (-update rewrites it).
func TestConversionReport(t *testing.T) {
	out, errOut, code := runCLI("diff", "--markdown")
	if code != 0 {
		t.Fatalf("faultline diff --markdown: exit %d:\n%s", code, errOut)
	}
	path := filepath.Join("..", "..", "docs", "conversion-report.md")
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: %s)", err, reportCommand)
	}
	if out != string(want) {
		t.Errorf("docs/conversion-report.md is stale: regenerate it with %s (or go test ./cmd/faultline -run TestConversionReport -update)", reportCommand)
	}
}
