package conform

import (
	"reflect"
	"testing"

	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
)

func TestCompare(t *testing.T) {
	s := &scenario.Scenario{Name: "s", Pos: scenario.Pos{File: "s.fault"}}
	step := func(i int, ok bool, obs string) runner.Step {
		return runner.Step{Index: i, Pos: "s.fault:1:1", Stmt: "read A", Checked: true, OK: ok, Expected: "ok", Observed: obs}
	}
	rep := func(st runner.Status, steps ...runner.Step) runner.Report {
		return runner.Report{Status: st, Arch: "x86_64", Steps: steps}
	}
	ptr := func(r runner.Report) *runner.Report { return &r }
	tests := []struct {
		name  string
		host  runner.Report
		model *runner.Report
		want  Class
		diffs int
	}{
		{"agree", rep(runner.Pass, step(0, true, "ok"), step(1, true, "ok")), ptr(rep(runner.Pass, step(0, true, "ok"), step(1, true, "ok"))), Agree, 0},
		{"model wrong", rep(runner.Pass, step(0, true, "ok")), ptr(rep(runner.Fail, step(0, false, "SIGSEGV"))), ModelWrong, 1},
		{"expectation wrong, model agrees with the host", rep(runner.Fail, step(0, false, "SIGSEGV")), ptr(rep(runner.Fail, step(0, false, "SIGSEGV"))), ExpectationWrong, 1},
		{"the model follows an expectation the host contradicts: model wrong", rep(runner.Fail, step(0, false, "SIGSEGV")), ptr(rep(runner.Pass, step(0, true, "ok"))), ModelWrong, 1},
		{"host, model and expectation all differ: model wrong", rep(runner.Fail, step(0, false, "SIGSEGV")), ptr(rep(runner.Fail, step(0, false, "SIGBUS"))), ModelWrong, 1},
		{"model stopped early, host agrees", rep(runner.Pass, step(0, true, "ok"), step(1, true, "ok")), ptr(rep(runner.Skip, step(0, true, "ok"))), Skipped, 0},
		{"model stopped early, host disagrees later", rep(runner.Fail, step(0, true, "ok"), step(1, false, "ok")), ptr(rep(runner.Skip, step(0, true, "ok"))), ExpectationWrong, 1},
		{"arch not modeled", rep(runner.Pass, step(0, true, "ok")), nil, Skipped, 0},
		{"host run broke", rep(runner.Error), ptr(rep(runner.Pass)), Broken, 0},
		{"model run broke", rep(runner.Pass), ptr(rep(runner.Error)), Broken, 0},
		// A safety net that ended a run is its own class: never model wrong,
		// even when the steps before it differ.
		{"host run timed out", rep(runner.TimedOut, step(0, true, "ok")), ptr(rep(runner.Fail, step(0, false, "SIGSEGV"))), TimedOut, 0},
		{"model run timed out", rep(runner.Fail, step(0, false, "SIGSEGV")), ptr(rep(runner.TimedOut, step(0, true, "ok"))), TimedOut, 0},
		{"both timed out", rep(runner.TimedOut), ptr(rep(runner.TimedOut)), TimedOut, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Compare(s, tc.host, tc.model)
			if got.Class != tc.want || len(got.Diffs) != tc.diffs {
				t.Fatalf("class %v with %d diffs (%+v), want %v with %d", got.Class, len(got.Diffs), got.Diffs, tc.want, tc.diffs)
			}
			if (tc.want == Skipped || tc.want == TimedOut) && got.Reason == "" {
				t.Errorf("a %v must name its reason", tc.want)
			}
		})
	}
}

// TestClassifyGeneric: the generic model's differences from the host are
// listed, by the rule the native model noted at the statement (or
// earlier), and one no rule explains makes an agreeing scenario
// GenericUnexplained; a scenario that does not agree keeps its class.
func TestClassifyGeneric(t *testing.T) {
	s := &scenario.Scenario{Name: "s", Pos: scenario.Pos{File: "s.fault"}}
	step := func(i int, obs string, rules ...string) runner.Step {
		return runner.Step{Index: i, Pos: "s.fault:1:1", Stmt: "read A", Checked: true, OK: true, Expected: obs, Observed: obs, Rules: rules}
	}
	rep := func(h machine.Handler, st runner.Status, steps ...runner.Step) *runner.Report {
		return &runner.Report{Status: st, Arch: "x86_64", Handler: h, Steps: steps}
	}
	host := *rep(machine.Native, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_ADRERR"))
	tests := []struct {
		name         string
		host         runner.Report
		native, gen  *runner.Report
		want         Class
		rules        []string
		documented   []bool
		genericNoted bool
	}{
		{"the generic model agrees", host, rep(machine.Native, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_ADRERR")),
			rep(machine.Generic, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_ADRERR")), Agree, nil, nil, false},
		{"differs by a rule", host, rep(machine.Native, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_ADRERR", "poison-as-adrerr")),
			rep(machine.Generic, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_MCEERR_AR")), Agree, []string{"poison-as-adrerr"}, []bool{true}, false},
		{"differs by a rule noted earlier", host, rep(machine.Native, runner.Pass, step(0, "ok", "r"), step(1, "SIGBUS BUS_ADRERR")),
			rep(machine.Generic, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_MCEERR_AR")), Agree, []string{"r"}, []bool{true}, false},
		{"differs by no rule", host, rep(machine.Native, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_ADRERR")),
			rep(machine.Generic, runner.Pass, step(0, "ok"), step(1, "SIGSEGV SEGV_MAPERR")), GenericUnexplained, []string{runner.Unexplained}, []bool{false}, false},
		{"the native model is wrong: that class stands", host, rep(machine.Native, runner.Fail, step(0, "ok"), runner.Step{Index: 1, Pos: "s.fault:1:1", Checked: true, Observed: "ok"}),
			rep(machine.Generic, runner.Pass, step(0, "ok"), step(1, "SIGSEGV SEGV_MAPERR")), ModelWrong, []string{runner.Unexplained}, []bool{false}, false},
		{"the generic model says what the native model says, where the host differs in a detail left open", host,
			rep(machine.Native, runner.Pass, step(0, "ok"), runner.Step{Index: 1, Pos: "s.fault:1:1", Checked: true, OK: true, Observed: "minflt=127"}),
			rep(machine.Generic, runner.Pass, step(0, "ok"), runner.Step{Index: 1, Pos: "s.fault:1:1", Checked: true, OK: true, Observed: "minflt=127"}), Agree, nil, nil, false},
		{"no generic run (the native handler not modeled)", host, rep(machine.Generic, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_ADRERR")), nil, Agree, nil, nil, false},
		{"the generic run broke", host, rep(machine.Native, runner.Pass, step(0, "ok"), step(1, "SIGBUS BUS_ADRERR")),
			rep(machine.Generic, runner.Error, step(0, "ok")), Agree, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(s, tc.host, tc.native, tc.gen)
			var rules []string
			var doc []bool
			for _, g := range got.Generic {
				rules, doc = append(rules, g.Rule), append(doc, g.Documented)
			}
			if got.Class != tc.want || !reflect.DeepEqual(rules, tc.rules) || !reflect.DeepEqual(doc, tc.documented) || (got.GenericNote != "") != tc.genericNoted {
				t.Fatalf("class %v, generic %+v, note %q; want %v, rules %v documented %v", got.Class, got.Generic, got.GenericNote, tc.want, tc.rules, tc.documented)
			}
			if got.Model != tc.native.Handler.String() {
				t.Errorf("model %q, want %q", got.Model, tc.native.Handler)
			}
		})
	}
}
