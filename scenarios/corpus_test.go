package scenarios_test

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/scenarios"
)

// TestCorpus runs every built-in scenario on every modeled architecture it
// names: the corpus is the project's golden test.
func TestCorpus(t *testing.T) {
	files := scenarios.All()
	if len(files) < 120 {
		t.Fatalf("the corpus has %d scenarios, want at least 120", len(files))
	}
	names := map[string]string{}
	for _, f := range files {
		s, err := scenario.Parse(f.Name, f.Src)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if prev, dup := names[s.Name]; dup {
			t.Errorf("%s: scenario name %s is also used by %s", f.Name, s.Name, prev)
		}
		names[s.Name] = f.Name
		if want := "scenarios/" + s.Name + ".fault"; f.Name != want {
			t.Errorf("%s: scenario %s should live in %s", f.Name, s.Name, want)
		}
		archs, _ := runner.Arches(s, "")
		for _, arch := range archs {
			for _, h := range machine.Handlers() {
				if !modeled(arch, h) {
					continue // not modeled yet
				}
				t.Run(s.Name+"/"+arch+"/"+h.String(), func(t *testing.T) {
					rep := runner.Run(s, arch, runner.Options{Handler: h})
					if rep.Status != runner.Pass {
						t.Errorf("%s on %s, %s handler: %s %s", f.Name, arch, h, rep.Status, rep.Reason)
						for _, fl := range rep.Failures {
							t.Errorf("  %s: %s: expected %s, got %s %s", fl.Pos, fl.Stmt, fl.Expected, fl.Actual, fl.Note)
						}
					}
				})
			}
		}
	}
}

// modeled reports whether machine.New builds arch with handler h.
func modeled(arch string, h machine.Handler) bool {
	k, err := machine.New(arch, config.Default(), h)
	if err != nil {
		return false
	}
	k.Shutdown()
	return true
}
