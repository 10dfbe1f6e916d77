// Package conform checks the model against the machine's own kernel: it
// runs each scenario on the host (package hostrun) and on the model for
// the host's architecture with the host's configuration, and classifies
// each scenario by who disagrees with whom, statement by statement.
package conform

import (
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
)

// Class is how a scenario fared.
type Class int

// Classes.
const (
	// Agree: the expectation, the host and the model agree on every statement.
	Agree Class = iota
	// ModelWrong: the model and the real kernel differ on a statement,
	// whatever the expectation says.
	ModelWrong
	// ExpectationWrong: the model and the real kernel agree, and contradict
	// the expectation (a bug to fix in the scenario).
	ExpectationWrong
	// Skipped: the scenario could not run on the host (or the model could
	// not run it); Reason says why.
	Skipped
	// Broken: a run itself failed (the executor, the runner); Reason says how.
	Broken
	// TimedOut: a wall-clock safety net ended a run (runner.TimedOut):
	// nothing is known about who is right; Reason says which run and where.
	TimedOut
)

var classNames = [...]string{Agree: "agree", ModelWrong: "model wrong", ExpectationWrong: "expectation wrong", Skipped: "skipped", Broken: "error", TimedOut: "timed out"}

func (c Class) String() string { return classNames[c] }

// MarshalText implements encoding.TextMarshaler.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Diff is one statement on which the three do not all agree.
type Diff struct {
	Pos      string `json:"pos"`
	Stmt     string `json:"statement"`
	Expected string `json:"expected"`
	Host     string `json:"host"`
	Model    string `json:"model"`
	HostOK   bool   `json:"host_ok"`
	ModelOK  bool   `json:"model_ok"`
}

// Result is one scenario's conformance.
type Result struct {
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	Arch     string `json:"arch"`
	Class    Class  `json:"class"`
	Reason   string `json:"reason,omitempty"`
	Diffs    []Diff `json:"diffs,omitempty"`
}

// Compare classifies a scenario from its host and model runs (both run
// with Record). The model run may be nil when the architecture is not
// modeled.
func Compare(s *scenario.Scenario, host runner.Report, model *runner.Report) Result {
	res := Result{Scenario: s.Name, File: s.Pos.File, Arch: host.Arch}
	switch host.Status {
	case runner.TimedOut:
		res.Class, res.Reason = TimedOut, "host run: "+host.Reason
		return res
	case runner.Error:
		res.Class, res.Reason = Broken, "host run: "+host.Reason
		return res
	case runner.Skip:
		res.Class, res.Reason = Skipped, host.Reason
		return res
	}
	modelSteps := map[int]runner.Step{}
	modelUnsure := ""
	switch {
	case model == nil:
		modelUnsure = "the host's architecture is not modeled"
	case model.Status == runner.TimedOut:
		res.Class, res.Reason = TimedOut, "model run: "+model.Reason
		return res
	case model.Status == runner.Error:
		res.Class, res.Reason = Broken, "model run: "+model.Reason
		return res
	case model.Status == runner.Skip:
		modelUnsure = "model: " + model.Reason
		fallthrough
	default:
		for _, st := range model.Steps {
			modelSteps[st.Index] = st
		}
	}
	hostWrong, modelWrong := false, false
	for _, hs := range host.Steps {
		ms, haveModel := modelSteps[hs.Index]
		d := Diff{Pos: hs.Pos, Stmt: hs.Stmt, Expected: hs.Expected, Host: hs.Observed, HostOK: hs.OK, Model: "(not run)"}
		if haveModel {
			d.Model, d.ModelOK = ms.Observed, ms.OK
		}
		if !hs.OK {
			hostWrong = true
		}
		// The kernel is the oracle: a model that differs from it is wrong,
		// even where the expectation was written from the model.
		if haveModel && (!ms.OK && hs.OK || ms.Observed != hs.Observed && (!ms.OK || !hs.OK)) {
			modelWrong = true
		}
		if !hs.OK || haveModel && !ms.OK {
			res.Diffs = append(res.Diffs, d)
		}
	}
	// Operands the runs could not resolve are failures without a step.
	for _, f := range host.Failures {
		if f.Actual == "not run" {
			hostWrong = true
			res.Diffs = append(res.Diffs, Diff{Pos: f.Pos, Stmt: f.Stmt, Expected: f.Expected, Host: "not run: " + f.Note, Model: "-"})
		}
	}
	switch {
	case modelWrong:
		res.Class = ModelWrong
	case hostWrong:
		res.Class = ExpectationWrong
	case modelUnsure != "":
		res.Class, res.Reason = Skipped, modelUnsure+" (the host agrees with the expectation)"
	default:
		res.Class = Agree
	}
	return res
}
