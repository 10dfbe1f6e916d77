package conform

import (
	"testing"

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
