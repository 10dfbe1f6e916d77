package scenarios_test

import (
	"slices"
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
			for _, h := range handlers(arch) {
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

// TestCorpusPageSizes runs every scenario that runs on arm64 there again
// with 16 and 64 KiB base pages (config page_size), with both handlers: a
// scenario says what it means by a page with the unit pg, and states a
// page-size-specific outcome under a config or arch guard.
func TestCorpusPageSizes(t *testing.T) {
	for _, f := range scenarios.All() {
		s, err := scenario.Parse(f.Name, f.Src)
		if err != nil {
			continue // TestCorpus reports it
		}
		archs, _ := runner.Arches(s, "")
		if !slices.Contains(archs, "arm64") {
			continue
		}
		for _, size := range []string{"16k", "64k"} {
			cfg := config.Default()
			if err := cfg.Set("page_size", size); err != nil {
				t.Fatal(err)
			}
			for _, h := range handlers("arm64") {
				t.Run(s.Name+"/arm64/"+size+"/"+h.String(), func(t *testing.T) {
					rep := runner.Run(s, "arm64", runner.Options{Handler: h, Config: &cfg})
					if rep.Status != runner.Pass && rep.Status != runner.Skip {
						t.Errorf("%s on arm64 with %s pages, %s handler: %s %s", f.Name, size, h, rep.Status, rep.Reason)
						for _, fl := range rep.Failures {
							t.Errorf("  %s: %s: expected %s, got %s %s", fl.Pos, fl.Stmt, fl.Expected, fl.Actual, fl.Note)
						}
					}
				})
			}
		}
	}
}

// handlers returns the handlers the corpus runs on arch: both, once the
// arch's native handler is registered, else the generic one alone.
func handlers(arch string) []machine.Handler {
	k, err := machine.New(arch, config.Default(), machine.Native)
	if err != nil {
		return []machine.Handler{machine.Generic}
	}
	k.Shutdown()
	return machine.Handlers()
}

// TestCorpusVersions runs every scenario that states an outcome for a
// range of kernel versions at each end of every range it names (the
// boundary version and the one before it), on every arch and handler:
// each version's stated outcome is checked, not only 6.18's.
func TestCorpusVersions(t *testing.T) {
	for _, f := range scenarios.All() {
		s, err := scenario.Parse(f.Name, f.Src)
		if err != nil {
			continue // TestCorpus reports it
		}
		versions := boundaryVersions(t, s)
		if len(versions) == 0 {
			continue
		}
		archs, _ := runner.Arches(s, "")
		for _, arch := range archs {
			for _, h := range handlers(arch) {
				for _, v := range versions {
					t.Run(s.Name+"/"+arch+"/"+h.String()+"/"+v.String(), func(t *testing.T) {
						rep := runner.Run(s, arch, runner.Options{Handler: h, Kernel: &v})
						if rep.Status != runner.Pass && rep.Status != runner.Skip {
							t.Errorf("%s on %s, %s handler, kernel %s: %s %s", f.Name, arch, h, v, rep.Status, rep.Reason)
							for _, fl := range rep.Failures {
								t.Errorf("  %s: %s: expected %s, got %s %s", fl.Pos, fl.Stmt, fl.Expected, fl.Actual, fl.Note)
							}
						}
					})
				}
			}
		}
	}
}

// boundaryVersions returns the versions on both sides of every kernel
// range s's overrides name: the range's version and the one before it.
func boundaryVersions(t *testing.T, s *scenario.Scenario) []config.Version {
	seen := map[config.Version]bool{}
	var out []config.Version
	add := func(v config.Version) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, st := range s.Body {
		for key := range st.Overrides {
			sel, err := scenario.ParseSelector(key)
			if err != nil {
				t.Errorf("%s: override %q: %v", st.Pos, key, err)
				continue
			}
			if sel.Op == "" {
				continue
			}
			v := sel.Version
			add(v)
			if v.Minor > 0 {
				add(config.Version{Major: v.Major, Minor: v.Minor - 1})
			} else {
				add(config.Version{Major: v.Major - 1, Minor: 20})
			}
		}
	}
	return out
}
