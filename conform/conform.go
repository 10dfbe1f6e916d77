// Package conform checks the model against the machine's own kernel: it
// runs each scenario on the host (package hostrun) and on the model for
// the host's architecture with the host's configuration — its native
// handler, what the kernel runs — and classifies each scenario by who
// disagrees with whom, statement by statement. It also runs the generic
// handler's model and reports every statement where that differs from the
// host: by a rule of the conversion table, or unexplained.
package conform

import (
	"context"
	"strings"
	"time"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
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
	// GenericUnexplained: the expectation, the host and the native model
	// agree, but the generic model differs from the host on a statement
	// where no conversion rule was noted: a bug of the generic path, or a
	// rule the table lacks.
	GenericUnexplained
)

var classNames = [...]string{Agree: "agree", ModelWrong: "model wrong", ExpectationWrong: "expectation wrong", Skipped: "skipped", Broken: "error", TimedOut: "timed out",
	GenericUnexplained: "generic unexplained"}

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
	// Generic is the generic model's outcome (Classify fills it in where
	// that model ran and checked the statement).
	Generic string `json:"generic,omitempty"`
	HostOK  bool   `json:"host_ok"`
	ModelOK bool   `json:"model_ok"`
}

// GenericDiff is one statement on which the generic model differs from
// the host.
type GenericDiff struct {
	Pos     string `json:"pos"`
	Stmt    string `json:"statement"`
	Host    string `json:"host"`
	Generic string `json:"generic"`
	// Rule is the rule responsible (runner.Attribute on the native model's
	// run), or runner.Unexplained; Documented tells them apart.
	Rule        string `json:"rule"`
	Consequence bool   `json:"consequence,omitempty"`
	Documented  bool   `json:"documented"`
}

// Result is one scenario's conformance.
type Result struct {
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	Arch     string `json:"arch"`
	// Model is the handler of the model the host was compared with:
	// native, or generic where the arch's native handler is not modeled.
	Model  string `json:"model,omitempty"`
	Class  Class  `json:"class"`
	Reason string `json:"reason,omitempty"`
	Diffs  []Diff `json:"diffs,omitempty"`
	// Generic lists the statements where the generic model differs from
	// the host; GenericNote says why it was not compared, or not to the
	// end.
	Generic     []GenericDiff `json:"generic,omitempty"`
	GenericNote string        `json:"generic_note,omitempty"`
	// Duration is the wall-clock time of the whole scenario (the host
	// run and the model runs), HostDuration the host run's alone: where
	// a conform run spends its time. Neither decides anything.
	Duration     time.Duration `json:"duration_ns,omitempty"`
	HostDuration time.Duration `json:"host_duration_ns,omitempty"`
}

// Classify is Compare of the host and the native model, then
// CompareGeneric of the host and the generic model (nil: not run); an
// unexplained generic difference makes a scenario that agrees
// GenericUnexplained.
func Classify(s *scenario.Scenario, host runner.Report, native, generic *runner.Report) Result {
	res := Compare(s, host, native)
	switch res.Class {
	case Agree, ModelWrong, ExpectationWrong:
	default:
		return res
	}
	if generic == nil {
		return res
	}
	res.Generic, res.GenericNote = CompareGeneric(host, native, *generic)
	for i, d := range res.Diffs {
		for _, st := range generic.Steps {
			if st.Checked && st.Pos == d.Pos {
				res.Diffs[i].Generic = st.Observed
			}
		}
	}
	if res.Class == Agree {
		for _, d := range res.Generic {
			if !d.Documented {
				res.Class = GenericUnexplained
				break
			}
		}
	}
	return res
}

// CompareGeneric lists the statements both the host and the generic
// model checked whose outcomes differ, each attributed to the rules the
// native model's run (nil: none) noted: a documented difference, or an
// unexplained one. A statement where the generic model says what the
// native model says is not listed: Compare has judged that outcome
// against the host already (a detail the expectation leaves open, such
// as a fault count it does not state, may differ from the host's). The
// note says why the generic run was not compared to its end, or is empty.
func CompareGeneric(host runner.Report, native *runner.Report, generic runner.Report) ([]GenericDiff, string) {
	checked := func(r *runner.Report) map[int]runner.Step {
		m := map[int]runner.Step{}
		if r != nil {
			for _, st := range r.Steps {
				if st.Checked {
					m[st.Index] = st
				}
			}
		}
		return m
	}
	gen, nat := checked(&generic), checked(native)
	var out []GenericDiff
	for _, hs := range host.Steps {
		gs, ok := gen[hs.Index]
		if !hs.Checked || !ok || gs.Observed == hs.Observed {
			continue
		}
		if ns, ok := nat[hs.Index]; ok && ns.Observed == gs.Observed {
			continue
		}
		var a runner.Attribution
		if native != nil {
			a = runner.Attribute(*native, hs.Index)
		}
		out = append(out, GenericDiff{Pos: hs.Pos, Stmt: hs.Stmt, Host: hs.Observed, Generic: gs.Observed,
			Rule: a.Rule(), Consequence: a.Consequence, Documented: len(a.Rules) > 0})
	}
	note := ""
	switch generic.Status {
	case runner.Pass:
	case runner.Fail:
		if generic.Reason != "" {
			note = "generic model: then stopped: " + generic.Reason
		}
	default:
		note = "generic model: " + strings.ToLower(generic.Status.String()) + ": " + generic.Reason
	}
	return out, note
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
	if model != nil {
		res.Model = model.Handler.String()
	}
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
			if st.Checked {
				modelSteps[st.Index] = st
			}
		}
	}
	hostWrong, modelWrong := false, false
	for _, hs := range host.Steps {
		if !hs.Checked {
			continue
		}
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

// NativeModeled reports whether the native handler of arch is modeled.
func NativeModeled(arch string, cfg config.Kernel) bool {
	_, err := machine.New(arch, cfg, machine.Native)
	return err == nil
}

// Judge classifies a host run hr of s made on a kernel of arch with the
// configuration cfg (the host's, or a guest's under qemu): against the
// native model of arch configured so (Compare), and the generic model's
// differences from the host (Classify). Where the arch's native handler
// is not modeled, the generic model stands in for it, and Result.Model
// says so.
func Judge(ctx context.Context, arch string, cfg config.Kernel, s *scenario.Scenario, hr runner.Report) Result {
	return JudgeWith(s, hr, RunModels(ctx, arch, cfg, s))
}

// Models are the model runs a host run of a scenario is judged against:
// nil where the arch or its native handler is not modeled.
type Models struct {
	Native, Generic *runner.Report
}

// RunModels runs s on the models Judge compares a host run with, for a
// kernel of arch configured as cfg. The runs do not depend on the host's
// run, so a caller may make them beforehand, on every CPU, while the host
// runs scenarios one at a time.
func RunModels(ctx context.Context, arch string, cfg config.Kernel, s *scenario.Scenario) Models {
	if !machine.Modeled(arch) {
		return Models{}
	}
	model := func(hd machine.Handler) *runner.Report {
		rep := runner.Run(s, arch, runner.Options{Handler: hd, Config: &cfg, Record: true, Scale: timeout.FromContext(ctx)})
		return &rep
	}
	if !NativeModeled(arch, cfg) {
		return Models{Generic: model(machine.Generic)}
	}
	return Models{Native: model(machine.Native), Generic: model(machine.Generic)}
}

// JudgeWith is Judge with the model runs made (RunModels).
func JudgeWith(s *scenario.Scenario, hr runner.Report, m Models) Result {
	switch {
	case m.Generic == nil:
		return Classify(s, hr, nil, nil)
	case m.Native == nil:
		return Classify(s, hr, m.Generic, nil)
	}
	return Classify(s, hr, m.Native, m.Generic)
}
