package main

import (
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
)

// ktapTest is one test of a parsed KTAP document.
type ktapTest struct {
	ok        bool
	num       int
	desc      string
	directive string // SKIP, TODO, XFAIL, TIMEOUT, ERROR or ""
	data      string
	diags     []string // the diagnostic lines just before its result line
	subtests  []ktapTest
}

// The lines of KTAP version 1 (Documentation/dev-tools/ktap.rst), after
// the indentation.
var (
	ktapVersion = regexp.MustCompile(`^KTAP version 1$`)
	ktapPlan    = regexp.MustCompile(`^1\.\.([0-9]+)$`)
	// <result> <number> [<description>][ # [<directive>] [<diagnostic data>]]
	ktapResult = regexp.MustCompile(`^(ok|not ok) ([0-9]+)(?: ([^#]*?))?(?: # ?(?:(SKIP|TODO|XFAIL|TIMEOUT|ERROR)\b)? ?(.*))?$`)
	ktapDiag   = regexp.MustCompile(`^# ?(.*)$`)
)

// parseKTAP parses a whole KTAP document strictly: every line is a
// version, plan, result or diagnostic line at the indentation of its
// level (two spaces a level); every level starts with a version line and
// a plan; results are numbered from 1 and as many as the plan says; a
// parent whose subtest is not ok is not ok. It returns the top-level
// tests and the diagnostic lines that follow the last result.
func parseKTAP(t *testing.T, doc string) ([]ktapTest, []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	i := 0
	tests, trailing, err := parseLevel(lines, &i, 0)
	if err != nil {
		t.Fatalf("not KTAP: %v\n%s", err, doc)
	}
	if i != len(lines) {
		t.Fatalf("not KTAP: line %d (%q) is past the end of the top level\n%s", i+1, lines[i], doc)
	}
	return tests, trailing
}

func parseLevel(lines []string, i *int, depth int) ([]ktapTest, []string, error) {
	indent := strings.Repeat("  ", depth)
	at := func() (string, bool) {
		if *i >= len(lines) || !strings.HasPrefix(lines[*i], indent) {
			return "", false
		}
		rest := lines[*i][len(indent):]
		if strings.HasPrefix(rest, " ") { // deeper: a subtest
			return "", false
		}
		return rest, true
	}
	if l, ok := at(); !ok || !ktapVersion.MatchString(l) {
		return nil, nil, fmt.Errorf("line %d: want %q at depth %d, found %q", *i+1, "KTAP version 1", depth, lineAt(lines, *i))
	}
	*i++
	l, ok := at()
	m := ktapPlan.FindStringSubmatch(l)
	if !ok || m == nil {
		return nil, nil, fmt.Errorf("line %d: want a plan at depth %d, found %q", *i+1, depth, lineAt(lines, *i))
	}
	*i++
	plan, _ := strconv.Atoi(m[1])
	var tests []ktapTest
	var diags []string
	var subs []ktapTest
	for *i < len(lines) {
		if strings.HasPrefix(lines[*i], indent+"  KTAP version 1") {
			if subs != nil {
				return nil, nil, fmt.Errorf("line %d: two subtest blocks for one test", *i+1)
			}
			s, sd, err := parseLevel(lines, i, depth+1)
			if err != nil {
				return nil, nil, err
			}
			subs = s
			diags = append(diags, sd...)
			continue
		}
		l, ok := at()
		if !ok {
			break // the end of this level
		}
		if d := ktapDiag.FindStringSubmatch(l); d != nil {
			diags = append(diags, d[1])
			*i++
			continue
		}
		r := ktapResult.FindStringSubmatch(l)
		if r == nil {
			return nil, nil, fmt.Errorf("line %d: not a KTAP line: %q", *i+1, lines[*i])
		}
		num, _ := strconv.Atoi(r[2])
		if num != len(tests)+1 {
			return nil, nil, fmt.Errorf("line %d: test %d, want %d", *i+1, num, len(tests)+1)
		}
		tc := ktapTest{ok: r[1] == "ok", num: num, desc: r[3], directive: r[4], data: r[5], diags: diags, subtests: subs}
		for _, s := range subs {
			if !s.ok && s.directive != "SKIP" && tc.ok {
				return nil, nil, fmt.Errorf("line %d: %s is ok with a subtest not ok (%s)", *i+1, tc.desc, s.desc)
			}
		}
		if (tc.directive == "TIMEOUT" || tc.directive == "ERROR") && tc.ok {
			return nil, nil, fmt.Errorf("line %d: %s is ok with %s", *i+1, tc.desc, tc.directive)
		}
		tests = append(tests, tc)
		diags, subs = nil, nil
		*i++
	}
	if len(tests) != plan {
		return nil, nil, fmt.Errorf("depth %d: %d results for a plan of %d", depth, len(tests), plan)
	}
	if subs != nil {
		return nil, nil, fmt.Errorf("a subtest block without its parent's result")
	}
	return tests, diags, nil
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}

// TestKTAPParser: the test's parser takes the spec's examples and refuses
// what breaks its grammar, so that the tests below can rely on it.
func TestKTAPParser(t *testing.T) {
	good := "KTAP version 1\n1..2\n  KTAP version 1\n  1..3\n  ok 1 test_1\n  # test_2: FAIL\n  not ok 2 test_2\n  ok 3 test_3 # SKIP test_3 skipped\nnot ok 1 example_test\nok 2 other # SKIP\n# Totals\n"
	tests, trailing := parseKTAP(t, good)
	if len(tests) != 2 || len(tests[0].subtests) != 3 || tests[0].ok || tests[0].subtests[1].diags[0] != "test_2: FAIL" ||
		tests[0].subtests[2].directive != "SKIP" || tests[0].subtests[2].data != "test_3 skipped" || tests[1].directive != "SKIP" || trailing[0] != "Totals" {
		t.Fatalf("parsed %+v, %q", tests, trailing)
	}
	for _, bad := range []string{
		"1..1\nok 1 a\n",                         // no version line
		"KTAP version 1\nok 1 a\n",               // no plan
		"KTAP version 1\n1..2\nok 1 a\n",         // short of the plan
		"KTAP version 1\n1..1\nok 2 a\n",         // misnumbered
		"KTAP version 1\n1..1\nok 1 a\nok 1 b\n", // past the plan, misnumbered
		"KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  not ok 1 s\nok 1 p\n", // ok over a failure
		"KTAP version 1\n1..1\n KTAP version 1\n 1..0\nok 1 p\n",                 // one-space indentation
		"KTAP version 1\n1..1\nok 1 a # TIMEOUT 3s\n",                            // ok with TIMEOUT
		"KTAP version 1\n1..1\nPASS a\n",                                         // not a KTAP line
	} {
		lines := strings.Split(strings.TrimSuffix(bad, "\n"), "\n")
		i := 0
		if _, _, err := parseLevel(lines, &i, 0); err == nil && i == len(lines) {
			t.Errorf("parsed %q", bad)
		}
	}
}

// TestRunKTAP: run --ktap is KTAP version 1 with a test per scenario (and
// per file with errors), a subtest per arch and handler, the directives
// of skips, the failures' details as diagnostics, and the exit status of
// the run.
func TestRunKTAP(t *testing.T) {
	out, _, code := runCLI("run", "--ktap", "testdata/pass.fault", "testdata/fail.fault", "testdata/bad.fault", "testdata/skip.fault", "testdata/no-such.fault")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	tests, trailing := parseKTAP(t, out)
	type want struct {
		ok                bool
		desc, directive   string
		subtests          int
		diag, subtestDesc string
	}
	wants := []want{
		{false, "testdata/no-such.fault", "ERROR", 0, "no such file or directory", ""},
		{false, "testdata/bad.fault", "ERROR", 0, "testdata/bad.fault:5:6: unknown region", ""},
		{true, "cli-pass", "", 10, "", "ppc64le/generic"},
		{false, "cli-fail", "", 2, "", "x86_64/native"},
		{true, "cli-skip", "SKIP", 2, "", "loongarch64/native"},
	}
	if len(tests) != len(wants) {
		t.Fatalf("%d tests, want %d:\n%s", len(tests), len(wants), out)
	}
	for i, w := range wants {
		g := tests[i]
		if g.ok != w.ok || g.desc != w.desc || g.directive != w.directive || len(g.subtests) != w.subtests {
			t.Errorf("test %d: %+v, want %+v", i+1, g, w)
		}
		if w.diag != "" && !strings.Contains(strings.Join(g.diags, "\n"), w.diag) {
			t.Errorf("test %d: diagnostics %q lack %q", i+1, g.diags, w.diag)
		}
		if w.subtestDesc != "" {
			found := false
			for _, s := range g.subtests {
				found = found || s.desc == w.subtestDesc
			}
			if !found {
				t.Errorf("test %d: no subtest %s", i+1, w.subtestDesc)
			}
		}
	}
	failed := tests[3].subtests[0]
	if failed.ok || !strings.Contains(strings.Join(failed.diags, "\n"), "actual:   SIGSEGV SEGV_ACCERR @A") {
		t.Errorf("the failed subtest: %+v", failed)
	}
	if s := tests[4].subtests[0]; s.directive != "SKIP" || s.data != "architecture not modeled yet" {
		t.Errorf("the skipped subtest: %+v", s)
	}
	if last := trailing[len(trailing)-1]; last != "Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:2" {
		t.Errorf("last line %q", last)
	}
	if _, _, code := runCLI("run", "--ktap", "--json", "testdata/pass.fault"); code != 2 {
		t.Errorf("--ktap --json: exit %d, want 2", code)
	}
}

// TestRunKTAPCorpus: the corpus's anonymous-memory scenarios (a part:
// TestRunCorpus runs the whole) as KTAP parse, every scenario a test
// that passes or is skipped.
func TestRunKTAPCorpus(t *testing.T) {
	list, _, _ := runCLI("list", "-run", "^anon-")
	out, _, code := runCLI("run", "--ktap", "-run", "^anon-")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	tests, _ := parseKTAP(t, out)
	if n := strings.Count(list, "\n"); len(tests) != n || n < 10 {
		t.Fatalf("%d tests, %d scenarios listed", len(tests), n)
	}
	for _, tc := range tests {
		if !tc.ok || len(tc.subtests) == 0 {
			t.Errorf("test %d %s: ok %v, %d subtests", tc.num, tc.desc, tc.ok, len(tc.subtests))
		}
	}
}

// TestConformKTAP: each class of a conform result as KTAP (the writer, on
// results made here: the host is not needed).
func TestConformKTAP(t *testing.T) {
	var b strings.Builder
	kt, rest := ktapOut(true, &b)
	kt.fileError("x.fault", []string{"x.fault:1:1: bad", "x.fault:2:1: worse"})
	fmt.Fprintln(rest, "host: x86_64, Linux 6.18, root")
	kt.begin(6)
	results := []conform.Result{
		{Scenario: "a", Class: conform.Agree},
		{Scenario: "b", Class: conform.Agree, Generic: []conform.GenericDiff{{Pos: "b.fault:3:1", Stmt: "read A", Rule: "poison-as-adrerr", Documented: true, Host: "ok", Generic: "SIGBUS"}}},
		{Scenario: "c", Class: conform.ModelWrong, Diffs: []conform.Diff{{Pos: "c.fault:4:1", Stmt: "write A 1", Expected: "ok", Host: "ok", Model: "SIGSEGV"}}},
		{Scenario: "d", Class: conform.Skipped, Reason: "needs hugetlb\n(none reserved)"},
		{Scenario: "e", Class: conform.TimedOut, Reason: "60s # per statement"},
		{Scenario: "f#1", Class: conform.Broken, Reason: "executor died"},
	}
	for _, r := range results {
		kt.conform(r)
	}
	fmt.Fprint(rest, "\n1 agree, ... (6 scenarios)\nno newline")
	kt.end()
	tests, trailing := parseKTAP(t, b.String())
	type want struct {
		ok              bool
		desc, directive string
		data, diag      string
	}
	wants := []want{
		{false, "x.fault", "ERROR", "x.fault:1:1: bad", "x.fault:2:1: worse"},
		{true, "a", "", "", ""},
		{true, "b", "", "", "generic differs by rule poison-as-adrerr"},
		{false, "c", "", "", "model:    SIGSEGV"},
		{true, "d", "SKIP", "needs hugetlb (none reserved)", ""},
		{false, "e", "TIMEOUT", "60s # per statement", ""},
		{false, "f_1", "ERROR", "executor died", ""},
	}
	if len(tests) != len(wants) {
		t.Fatalf("%d tests, want %d:\n%s", len(tests), len(wants), b.String())
	}
	for i, w := range wants {
		g := tests[i]
		if g.ok != w.ok || g.desc != w.desc || g.directive != w.directive || g.data != w.data ||
			w.diag != "" && !strings.Contains(strings.Join(g.diags, "\n"), w.diag) {
			t.Errorf("test %d: %+v, want %+v", i+1, g, w)
		}
	}
	if !strings.Contains(strings.Join(tests[1].diags, "\n"), "host: x86_64") {
		t.Errorf("the host line is not a diagnostic before the results: %q", tests[1].diags)
	}
	wantTrail := []string{"1 agree, ... (6 scenarios)", "no newline", "Totals: pass:2 fail:1 xfail:0 xpass:0 skip:1 error:3"}
	if strings.Join(trailing, "|") != strings.Join(wantTrail, "|") {
		t.Errorf("trailing %q, want %q", trailing, wantTrail)
	}
}

// TestKTAPScenarioSkipsAndTimeouts: a scenario whose runs all skipped is
// skipped; one with a run that timed out is not ok.
func TestKTAPScenarioSkipsAndTimeouts(t *testing.T) {
	var b strings.Builder
	kt, _ := ktapOut(true, &b)
	kt.begin(2)
	kt.scenario("s", []runner.Report{
		{Arch: "ppc64le", Handler: machine.Native, Status: runner.Skip, Reason: "not modeled"},
		{Arch: "ppc64le", Handler: machine.Generic, Status: runner.Skip, Reason: "not modeled"},
	})
	kt.scenario("t", []runner.Report{
		{Arch: "x86_64", Handler: machine.Native, Status: runner.Pass},
		{Arch: "x86_64", Handler: machine.Generic, Status: runner.TimedOut, Reason: "no progress for 10s"},
	})
	kt.end()
	tests, _ := parseKTAP(t, b.String())
	if !tests[0].ok || tests[0].directive != "SKIP" || tests[0].data != "not modeled" {
		t.Errorf("all skipped: %+v", tests[0])
	}
	if tests[1].ok || tests[1].subtests[1].directive != "TIMEOUT" || tests[1].subtests[1].data != "no progress for 10s" {
		t.Errorf("timed out: %+v", tests[1])
	}
}

// TestConformKTAPHost: conform --ktap on this host, when it can run
// scenarios (under the shared lock, as all of this package's tests).
func TestConformKTAPHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the host kernel is the oracle only on Linux")
	}
	out, errOut, code := runCLI("conform", "--ktap", "testdata/pass.fault", "testdata/fail.fault")
	if code == 2 && strings.Contains(errOut, "faultline:") {
		t.Skipf("this host cannot run scenarios: %s", errOut)
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out, errOut)
	}
	tests, _ := parseKTAP(t, out)
	if len(tests) != 2 || !tests[0].ok || tests[0].desc != "cli-pass" || tests[1].ok || tests[1].desc != "cli-fail" ||
		!strings.Contains(strings.Join(tests[1].diags, "\n"), "host:     SIGSEGV SEGV_ACCERR @A") {
		t.Fatalf("tests %+v\n%s", tests, out)
	}
}
