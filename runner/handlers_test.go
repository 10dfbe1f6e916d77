package runner

import (
	"reflect"
	"testing"

	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/scenario"
)

// notingArch is x86_64 whose trap handler notes a rule after every write
// fault it handled, as a native handler notes the path where it departs:
// a test double for where the runner attributes rules.
type notingArch struct {
	kernel.Arch
	rule arch.RuleID
}

func (a notingArch) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	act := a.Arch.Trap(t, r)
	if r.Access == mm.AccessWrite {
		t.Kernel().NoteRule(a.rule.Bit())
	}
	return act
}

// TestStepRules: a recorded step names the rules noted while its
// statement ran, and only those; a background fault that completes
// when another statement wakes it is noted at that statement; the
// report names every rule of the run.
func TestStepRules(t *testing.T) {
	s := parse(t, `scenario rules
mmap A 1p rw private anon
mmap B 1p rw private anon
uffd U register B 1p missing
thread T
read A => ok 0
write A 1
T: write B 2 &
uffd U event => fault B write
uffd U copy B 1p 5 => ok 4096
wait T => ok
write A 3
faults main
`)
	cfg := config.Default()
	k := kernel.New(cfg, notingArch{x86.New(cfg), arch.RulePoisonADRERR})
	rep := Report{Scenario: s.Name, File: s.Pos.File, Arch: "x86_64"}
	r := newRun(s, "x86_64", k, &rep, Options{Record: true})
	r.execute()
	if rep.Status != Pass {
		t.Fatalf("%v %s %+v", rep.Status, rep.Reason, rep.Failures)
	}
	name := arch.Lookup(arch.RulePoisonADRERR).Name
	want := map[string][]string{
		"t.fault:7:1":  {name}, // write A 1: a write fault
		"t.fault:10:1": {name}, // the copy ends T's write fault, which notes then
		"t.fault:12:1": nil,    // write A 3: no fault, the page is writable
	}
	seen := map[string]bool{}
	for _, st := range rep.Steps {
		seen[st.Pos] = true
		if w, ok := want[st.Pos]; ok && !reflect.DeepEqual(st.Rules, w) {
			t.Errorf("%s (%s): rules %v, want %v", st.Pos, st.Stmt, st.Rules, w)
		}
		if _, ok := want[st.Pos]; !ok && len(st.Rules) != 0 {
			t.Errorf("%s (%s): rules %v, want none", st.Pos, st.Stmt, st.Rules)
		}
	}
	// One step per statement run, checked or not (the background start,
	// the faults baseline).
	for _, pos := range []string{"t.fault:8:1", "t.fault:13:1"} {
		if !seen[pos] {
			t.Errorf("no step for the unchecked statement at %s: %+v", pos, rep.Steps)
		}
	}
	if len(rep.Steps) != len(s.Body) {
		t.Errorf("%d steps for %d statements", len(rep.Steps), len(s.Body))
	}
	if !reflect.DeepEqual(rep.Rules, []string{name}) {
		t.Errorf("report rules %v, want [%s]", rep.Rules, name)
	}
}

// TestRunKernel: Options.Kernel replaces the version, and a scenario
// pinning another is skipped naming its pin.
func TestRunKernel(t *testing.T) {
	v61 := config.Version{Major: 6, Minor: 1}
	v618 := config.Version{Major: 6, Minor: 18}
	plain := parse(t, "scenario k\nmmap A 1p rw private anon\nread A => ok 0\n")
	pinned := parse(t, "scenario k\nconfig kernel=6.1\nmmap A 1p rw private anon\nread A => ok 0\n")
	tests := []struct {
		name   string
		s      *scenario.Scenario
		kernel *config.Version
		status Status
		ver    string
	}{
		{"default", plain, nil, Pass, "6.18"},
		{"--kernel 6.1", plain, &v61, Pass, "6.1"},
		{"the pin, without --kernel", pinned, nil, Pass, "6.1"},
		{"the pin agrees", pinned, &v61, Pass, "6.1"},
		{"the pin differs", pinned, &v618, Skip, "6.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Run(tc.s, "x86_64", Options{Handler: machine.Generic, Kernel: tc.kernel})
			if rep.Status != tc.status || rep.Kernel != tc.ver || rep.Handler != machine.Generic {
				t.Fatalf("status %v kernel %q handler %v (%s), want %v %q generic", rep.Status, rep.Kernel, rep.Handler, rep.Reason, tc.status, tc.ver)
			}
			if tc.status == Skip && rep.Reason != "t.fault:2:8: the scenario pins kernel=6.1; this run models kernel 6.18 only" {
				t.Errorf("reason %q", rep.Reason)
			}
		})
	}
}

func TestAttribute(t *testing.T) {
	step := func(i int, rules ...string) Step {
		return Step{Index: i, Pos: "t.fault:" + string(rune('1'+i)) + ":1", Checked: true, Rules: rules}
	}
	rep := Report{Steps: []Step{step(0), step(1, "b"), step(2), step(3, "a", "b"), step(4)}}
	tests := []struct {
		index int
		want  Attribution
		rule  string
	}{
		{0, Attribution{}, Unexplained},
		{1, Attribution{Rules: []string{"b"}}, "b"},
		{2, Attribution{Rules: []string{"b"}, Consequence: true, NotedAt: []string{"t.fault:2:1"}}, "b"},
		{3, Attribution{Rules: []string{"a", "b"}}, "a+b"},
		{4, Attribution{Rules: []string{"b", "a"}, Consequence: true, NotedAt: []string{"t.fault:2:1", "t.fault:4:1"}}, "b+a"},
		{9, Attribution{Rules: []string{"b", "a"}, Consequence: true, NotedAt: []string{"t.fault:2:1", "t.fault:4:1"}}, "b+a"},
	}
	for _, tc := range tests {
		got := Attribute(rep, tc.index)
		if !reflect.DeepEqual(got, tc.want) || got.Rule() != tc.rule {
			t.Errorf("index %d: %+v (%s), want %+v (%s)", tc.index, got, got.Rule(), tc.want, tc.rule)
		}
	}
}

func TestCompareHandlers(t *testing.T) {
	step := func(i int, obs string, rules ...string) Step {
		return Step{Index: i, Pos: "s.fault:" + string(rune('2'+i)) + ":1", Stmt: "read A => ok riscv64=> SIGBUS", Checked: true, OK: true, Observed: obs, Rules: rules}
	}
	bg := Step{Index: 5, Pos: "s.fault:7:1", Stmt: "T: read A &", OK: true}
	rep := func(h machine.Handler, st Status, reason string, steps ...Step) Report {
		return Report{Scenario: "s", File: "s.fault", Arch: "riscv64", Handler: h, Kernel: "6.18", Status: st, Reason: reason, Steps: steps}
	}
	tests := []struct {
		name        string
		native, gen Report
		compared    int
		diffs       []string // rule of each difference
		notCompared string
	}{
		{"same", rep(machine.Native, Pass, "", step(0, "ok"), step(1, "ok")), rep(machine.Generic, Pass, "", step(0, "ok"), step(1, "ok")), 2, nil, ""},
		{"a rule at the statement", rep(machine.Native, Pass, "", step(0, "ok"), step(1, "SIGBUS BUS_ADRERR", "poison-as-adrerr")),
			rep(machine.Generic, Pass, "", step(0, "ok"), step(1, "SIGBUS BUS_MCEERR_AR")), 2, []string{"poison-as-adrerr"}, ""},
		{"a consequence", rep(machine.Native, Pass, "", step(0, "ok", "r"), step(1, "killed SIGKILL")),
			rep(machine.Generic, Pass, "", step(0, "ok"), step(1, "ok")), 2, []string{"r"}, ""},
		{"unexplained", rep(machine.Native, Pass, "", step(0, "ok"), step(1, "ok 0x1")),
			rep(machine.Generic, Pass, "", step(0, "ok"), step(1, "ok 0x2")), 2, []string{Unexplained}, ""},
		{"unchecked steps are not compared", rep(machine.Native, Pass, "", bg), rep(machine.Generic, Pass, "", Step{Index: 5, Pos: "s.fault:7:1", Stmt: "T: read A &", OK: true, Observed: "x"}), 0, nil, ""},
		{"native skipped", rep(machine.Native, Skip, "the native handler of riscv64 is not modeled yet"), rep(machine.Generic, Pass, "", step(0, "ok")),
			0, nil, "native: skipped: the native handler of riscv64 is not modeled yet"},
		{"both stopped alike: only the common statements", rep(machine.Native, Skip, "s.fault:4:1: exec", step(0, "ok")), rep(machine.Generic, Skip, "s.fault:4:1: exec", step(0, "ok")),
			1, nil, "both: skipped: s.fault:4:1: exec"},
		{"generic broke", rep(machine.Native, Pass, "", step(0, "ok"), step(1, "ok")), rep(machine.Generic, Error, "boom", step(0, "ok")),
			1, nil, "generic: error: boom"},
		{"a failed expectation is compared to the end", rep(machine.Native, Fail, "", step(0, "ok")), rep(machine.Generic, Pass, "", step(0, "ok")), 1, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := CompareHandlers(tc.native, tc.gen)
			var rules []string
			for _, d := range c.Differences {
				rules = append(rules, d.Rule)
				if d.Scenario != "s" || d.File != "s.fault" || d.Line != 3 || d.Arch != "riscv64" || d.Kernel != "6.18" || d.Stmt != "read A" {
					t.Errorf("difference %+v", d)
				}
				if d.Explained() != (d.Rule != Unexplained) {
					t.Errorf("difference %+v: explained %v", d, d.Explained())
				}
			}
			if c.Compared != tc.compared || !reflect.DeepEqual(rules, tc.diffs) || c.NotCompared != tc.notCompared {
				t.Fatalf("compared %d, rules %v, not compared %q; want %d, %v, %q", c.Compared, rules, c.NotCompared, tc.compared, tc.diffs, tc.notCompared)
			}
		})
	}
}

func TestStatementOnly(t *testing.T) {
	for in, want := range map[string]string{
		"read A => ok 0x1": "read A",
		"read A riscv64=> SIGBUS BUS_ADRERR @A lsb=0":     "read A",
		"T: kread A 1p 7 &":                               "T: kread A 1p 7 &",
		"write  A   1":                                    "write A 1",
		"read A =>ok":                                     "read A",
		"read X => ok 0xc3   arm64=> SIGSEGV SEGV_ACCERR": "read X",
	} {
		if got := StatementOnly(in); got != want {
			t.Errorf("StatementOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSortDifferences(t *testing.T) {
	ds := []Difference{
		{File: "b.fault", Line: 1, Arch: "x86_64"},
		{File: "a.fault", Line: 9, Arch: "riscv64"},
		{File: "a.fault", Line: 9, Arch: "x86_64", Kernel: "6.18"},
		{File: "a.fault", Line: 9, Arch: "x86_64", Kernel: "6.1"},
		{File: "a.fault", Line: 2, Arch: "sparc"},
	}
	SortDifferences(ds, []string{"x86_64", "riscv64"})
	var got []string
	for _, d := range ds {
		got = append(got, d.File+":"+d.Arch+":"+d.Kernel)
	}
	want := []string{"a.fault:sparc:", "a.fault:x86_64:6.1", "a.fault:x86_64:6.18", "a.fault:riscv64:", "b.fault:x86_64:"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
