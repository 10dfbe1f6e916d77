package observe

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
)

// obs is what one run saw of the statement at body index 1 (the one after
// the mmap of each test's file).
type obs struct {
	arch    string
	handler machine.Handler
	written string
	exact   bool
	ok      bool
}

// TestRewrite checks how runs fold into a line: what stays as written,
// how the main expectation and the overrides are chosen, and that
// comments and columns stay.
func TestRewrite(t *testing.T) {
	const head = "scenario r\narch x86_64 riscv64 arm64\nmmap A 1p r private anon\n"
	all := func(written string, exact, ok bool) []obs {
		var out []obs
		for _, a := range []string{"x86_64", "riscv64", "arm64"} {
			for _, h := range machine.Handlers() {
				out = append(out, obs{a, h, written, exact, ok})
			}
		}
		return out
	}
	with := func(base []obs, changes ...obs) []obs {
		out := append([]obs(nil), base...)
		for _, c := range changes {
			for i := range out {
				if out[i].arch == c.arch && out[i].handler == c.handler {
					out[i] = c
				}
			}
		}
		return out
	}
	seg := "SIGSEGV SEGV_ACCERR @A"
	tests := []struct {
		name string
		line string
		runs []obs
		want string
	}{
		{"exact everywhere: as written", "write A 1   =>  " + seg + "   # c", all(seg, true, true), "write A 1   =>  " + seg + "   # c"},
		{"wrong everywhere: replaced, comment at its column", "write A 1    => ok          # wrong",
			all(seg, false, false), "write A 1    => " + seg + "  # wrong"},
		{"short: comment stays in its column", "write A 1    => SIGBUS BUS_ADRERR @A lsb=0   # c",
			all("ok", false, false), "write A 1    => ok" + strings.Repeat(" ", 45-len("write A 1    => ok")) + "# c"},
		{"no expectation gains one", "read A   # no expectation", all("ok 0x0", false, true), "read A => ok 0x0  # no expectation"},
		{"one arch differs", "write A 1 => ok",
			with(all(seg, false, false), obs{"arm64", machine.Native, "ok", true, true}, obs{"arm64", machine.Generic, "ok", true, true}),
			"write A 1 => " + seg + "   arm64=> ok"},
		{"the generic handler differs on one arch", "write A 1 => ok",
			with(all("ok", true, true), obs{"riscv64", machine.Generic, seg, false, false}),
			"write A 1 => ok   riscv64+generic=> " + seg},
		{"the generic handler differs on every arch", "write A 1 => ok",
			with(all("ok", true, true), obs{"x86_64", machine.Generic, seg, false, false}, obs{"riscv64", machine.Generic, seg, false, false}, obs{"arm64", machine.Generic, seg, false, false}),
			"write A 1 => ok   generic=> " + seg},
		{"kernel-range override kept where the runs only sharpen", "read A => SIGBUS BUS_ADRERR @A   kernel<6.9=> ok",
			all("SIGBUS BUS_ADRERR @A lsb=0", false, true), "read A => SIGBUS BUS_ADRERR @A lsb=0   kernel<6.9=> ok"},
		{"override kept as written where exact", "write A 1 => ok   arm64=> " + seg,
			with(all("SIGBUS BUS_ADRERR @A lsb=0", false, false), obs{"arm64", machine.Native, seg, true, true}, obs{"arm64", machine.Generic, seg, true, true}),
			"write A 1 => SIGBUS BUS_ADRERR @A lsb=0   arm64=> " + seg},
		{"runs not made keep the file's outcome", "write A 1 => ok",
			[]obs{{"x86_64", machine.Native, seg, false, false}},
			"write A 1 => " + seg + "   riscv64=> ok   arm64=> ok"},
		{"the generic handler follows its native one", "write A 1 => ok",
			[]obs{{"x86_64", machine.Native, seg, false, false}, {"riscv64", machine.Native, seg, false, false}, {"arm64", machine.Native, seg, false, false}},
			"write A 1 => " + seg},
		{"runs not made take a sharper outcome", "read A => ok",
			[]obs{{"x86_64", machine.Native, "ok 0x0", false, true}}, "read A => ok 0x0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := head + tt.line + "\n"
			s, err := scenario.Parse("r.fault", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			var reps []runner.Report
			for _, o := range tt.runs {
				reps = append(reps, runner.Report{Arch: o.arch, Handler: o.handler, Status: runner.Pass,
					Steps: []runner.Step{{Index: 1, Checked: true, Written: o.written, Exact: o.exact, OK: o.ok}}})
			}
			got := string(Rewrite(Input{Src: []byte(src), Scenario: s, Reports: reps, Kernel: config.Default().Version}))
			if want := head + tt.want + "\n"; got != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
			if _, err := scenario.Parse("r.fault", []byte(got)); err != nil {
				t.Fatalf("does not parse: %v", err)
			}
		})
	}
}

// TestRewriteNotes checks that a run that stopped is named at the end,
// replacing the notes of an earlier observe, and that a byte order mark
// and line endings stay.
func TestRewriteNotes(t *testing.T) {
	src := "\uFEFFscenario n\r\narch x86_64\r\nmmap A 1p r private anon\r\nread A\r\n# observe: an old note\n"
	s, err := scenario.Parse("n.fault", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	reps := []runner.Report{
		{Arch: "x86_64", Handler: machine.Native, Status: runner.Skip, Reason: "n.fault:4:1: x is not supported by the model yet",
			Steps: []runner.Step{{Index: 1, Checked: true, Written: "ok 0x0", OK: true}}},
		{Arch: "x86_64", Handler: machine.Generic, Status: runner.Pass,
			Steps: []runner.Step{{Index: 1, Checked: true, Written: "ok 0x0", OK: true}}},
	}
	got := string(Rewrite(Input{Src: []byte(src), Scenario: s, Reports: reps, Kernel: config.Default().Version, Notes: []string{"host: skipped"}}))
	want := "\uFEFFscenario n\r\narch x86_64\r\nmmap A 1p r private anon\r\nread A => ok 0x0\r\n" +
		"# observe: host: skipped\n# observe: x86_64 native: skip: n.fault:4:1: x is not supported by the model yet (the statements it did not run keep their expectations)\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}
