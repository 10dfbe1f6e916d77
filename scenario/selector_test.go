package scenario

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/config"
)

func ver(s string) config.Version {
	v, err := config.ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// TestExpectFor: the most specific override that holds for the run
// wins — handler, then arch, then kernel range — else the main
// expectation.
func TestExpectFor(t *testing.T) {
	src := prelude + "read X => ok 1   kernel>=7.0=> ok 2   riscv64=> ok 3   riscv64+kernel<6.3=> ok 4   generic=> ok 5   generic+kernel>=7.0=> ok 6   arm64+generic=> ok 7   arm64+generic+kernel=6.1=> ok 8\n"
	s := mustParse(t, src)
	st := s.Body[len(s.Body)-1]
	for _, tc := range []struct {
		arch    string
		generic bool
		kernel  string
		want    uint64
	}{
		{"x86_64", false, "6.18", 1},
		{"x86_64", false, "7.2", 2},
		{"riscv64", false, "6.18", 3},
		{"riscv64", false, "7.2", 3}, // the arch is more specific than the range
		{"riscv64", false, "6.1", 4},
		{"x86_64", true, "6.18", 5},
		{"x86_64", true, "7.2", 6},
		{"riscv64", true, "6.1", 5}, // generic counts more than riscv64+kernel<6.3
		{"arm64", true, "6.18", 7},
		{"arm64", true, "6.1", 8},
		{"arm64", false, "6.1", 1},
	} {
		o := st.ExpectFor(tc.arch, tc.generic, ver(tc.kernel))
		if o == nil || o.Value != tc.want {
			t.Errorf("%s generic=%v %s: %+v, want ok %d", tc.arch, tc.generic, tc.kernel, o, tc.want)
		}
	}
	checkRoundTrip(t, s)
}

func TestSelectorErrors(t *testing.T) {
	for _, tc := range []struct{ line, col, want string }{
		{"read X => ok   kernel~7.0=> ok", "6:16", `expected a kernel range (kernel<V, kernel<=V, kernel=V, kernel>=V or kernel>V) in override, found "kernel~7.0"`},
		{"read X => ok   kernel>=seven=> ok", "6:16", `in override "kernel>=seven"`},
		{"read X => ok   kernel>=7.0+kernel<8.0=> ok", "6:16", `two kernel ranges in override`},
		{"read X => ok   arm64+riscv64=> ok", "6:16", `two architectures in override`},
		{"read X => ok   kernel>=6.11=> ok   kernel>=7.0=> ok", "6:36", `override kernel>=7.0 overlaps kernel>=6.11`},
		{"read X => ok   arm64+kernel<6.3=> ok   arm64+kernel<=6.1=> ok", "6:40", `overlaps`},
		{"read X => ok   generic+generic=> ok", "6:16", `generic twice`},
	} {
		errs := parseErrors(t, prelude+tc.line)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "t.fault:"+tc.col+": ") || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%q: errors %v, want one at %s containing %q", tc.line, errs, tc.col, tc.want)
		}
	}
	// Ranges that do not meet are fine, and so are ranges on other parts.
	mustParse(t, prelude+"read X => ok   kernel<6.11=> ok   kernel>=7.0=> ok   arm64+kernel<6.11=> ok\n")
}
