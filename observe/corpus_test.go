package observe

import (
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/scenarios"
)

// runs runs s on every modeled arch it names and both handlers, recording.
func runs(s *scenario.Scenario) []runner.Report {
	var out []runner.Report
	run, _ := runner.Arches(s, "")
	for _, a := range run {
		for _, h := range machine.Handlers() {
			out = append(out, runner.Run(s, a, runner.Options{Handler: h, Record: true}))
		}
	}
	return out
}

// observed parses src, runs it and returns it rewritten.
func observed(t *testing.T, name string, src []byte) ([]byte, []runner.Report) {
	t.Helper()
	s, err := scenario.Parse(name, src)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	reps := runs(s)
	v := config.Default().Version
	for _, r := range reps {
		if pv, err := config.ParseVersion(r.Kernel); err == nil {
			v = pv
		}
	}
	return Rewrite(Input{Src: src, Scenario: s, Reports: reps, Kernel: v}), reps
}

// passes checks that src parses and that every run of it passes (or
// skips where the first runs skipped: a statement the model lacks).
func passes(t *testing.T, name string, src []byte, before []runner.Report) {
	t.Helper()
	s, err := scenario.Parse(name, src)
	if err != nil {
		t.Fatalf("%s: the observed scenario does not parse: %v\n%s", name, err, src)
	}
	skipped := map[string]bool{}
	for _, r := range before {
		if r.Status == runner.Skip {
			skipped[r.Arch+r.Handler.String()] = true
		}
	}
	for _, r := range runs(s) {
		switch {
		case r.Status == runner.Pass:
		case r.Status == runner.Skip && skipped[r.Arch+r.Handler.String()]:
		default:
			t.Errorf("%s on %s %s: %s %s %+v\n%s", name, r.Arch, r.Handler, r.Status, r.Reason, r.Failures, src)
		}
	}
}

// TestCorpusObserved: every corpus scenario observed on every modeled
// arch and both handlers parses and passes when run again, and observing
// that again changes nothing.
func TestCorpusObserved(t *testing.T) {
	changed := 0
	for _, f := range scenarios.All() {
		out, reps := observed(t, f.Name, f.Src)
		passes(t, f.Name, out, reps)
		again, _ := observed(t, f.Name, out)
		if string(again) != string(out) {
			t.Errorf("%s: observing the observed file changes it:\n%s\nthen:\n%s", f.Name, out, again)
		}
		if string(out) != string(f.Src) {
			changed++
		}
	}
	t.Logf("%d corpus files gained or sharpened an expectation", changed)
}

var arrow = regexp.MustCompile(`\s\S*=>.*$`)

// spoil replaces every expectation of src but a wait's (whose outcome
// decides which statements may follow) by a wrong one of the right form.
func spoil(t *testing.T, name string, src []byte) []byte {
	s, err := scenario.Parse(name, src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	for _, st := range s.Body {
		if st.Expect == nil {
			continue
		}
		wrong := "=> killed SIGUSR2"
		switch st.Op.(type) {
		case *scenario.Wait:
			continue
		case *scenario.Caught:
			wrong = "=> 999"
		case *scenario.Faults:
			wrong = "=> minflt=999 majflt=999"
		}
		n := st.Pos.Line - 1
		code, comment := cutComment(strings.TrimRight(lines[n], "\r\n"))
		lines[n] = arrow.ReplaceAllString(code, " "+wrong) + comment + "\n"
	}
	return []byte(strings.Join(lines, ""))
}

// TestIgnoresExpectations: a corpus scenario whose expectations are all
// wrong, observed, passes: what is written comes from the runs alone.
func TestIgnoresExpectations(t *testing.T) {
	for _, f := range scenarios.All() {
		bad := spoil(t, f.Name, f.Src)
		if _, err := scenario.Parse(f.Name, bad); err != nil {
			t.Fatalf("%s: spoiled file does not parse: %v\n%s", f.Name, err, bad)
		}
		out, reps := observed(t, f.Name, bad)
		if strings.Contains(string(out), "SIGUSR2") && !strings.Contains(string(f.Src), "SIGUSR2") {
			t.Errorf("%s: a wrong expectation survived:\n%s", f.Name, out)
		}
		passes(t, f.Name, out, reps)
	}
}
