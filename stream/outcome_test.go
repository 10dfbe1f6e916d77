package stream

import (
	"reflect"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/check"
	"github.com/faultline/faultline/scenario"
)

func u64(v uint64) *uint64 { return &v }
func intp(v int) *int      { return &v }

// TestParseOutcomeOfPrinted: every outcome check prints (Observed, with
// absolute addresses; Symbolic, as run and conform record them;
// Expected) reads back into the fields it was printed from.
func TestParseOutcomeOfPrinted(t *testing.T) {
	env := check.NewRegions(0xc3)
	env.Bind("A", 0x7fff0000, 0x4000)
	const far = 0x1000 // no region within 16 MiB: printed absolute
	tests := []struct {
		name string
		obs  check.Observation
		sym  Outcome // from Symbolic; Observed adds the absolute value
		abs  string  // Address.Value in Observed's text ("" for none)
	}{
		{"ok", check.Observation{Kind: scenario.OutOK}, Outcome{Kind: KindOK}, ""},
		{"ok value", check.Observation{Kind: scenario.OutOK, HasValue: true, Value: 0x61}, Outcome{Kind: KindOK, Value: u64(0x61)}, ""},
		{"segv", check.Observation{Kind: scenario.OutSignal, Signal: abi.SIGSEGV, Code: abi.SEGV_ACCERR, Addr: 0x7fff0010},
			Outcome{Kind: KindSignal, Signal: "SIGSEGV", Code: "SEGV_ACCERR", Address: &Address{Expr: "A+0x10", Region: "A", Offset: 16}}, "0x7fff0010"},
		{"segv below", check.Observation{Kind: scenario.OutSignal, Signal: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: 0x7fff0000 - 0x1000},
			Outcome{Kind: KindSignal, Signal: "SIGSEGV", Code: "SEGV_MAPERR", Address: &Address{Expr: "A-0x1000", Region: "A", Offset: -0x1000}}, "0x7ffef000"},
		{"segv absolute", check.Observation{Kind: scenario.OutSignal, Signal: abi.SIGSEGV, Code: abi.SI_KERNEL, Addr: far},
			Outcome{Kind: KindSignal, Signal: "SIGSEGV", Code: "SI_KERNEL", Address: &Address{Expr: "0x1000", Value: "0x1000"}}, "0x1000"},
		{"bus", check.Observation{Kind: scenario.OutSignal, Signal: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, Addr: 0x7fff0000, LSB: 12},
			Outcome{Kind: KindSignal, Signal: "SIGBUS", Code: "BUS_MCEERR_AR", Address: &Address{Expr: "A", Region: "A"}, LSB: intp(12)}, "0x7fff0000"},
		{"errno", check.Observation{Kind: scenario.OutErrno, Errno: abi.EFAULT}, Outcome{Kind: KindErrno, Errno: "EFAULT"}, ""},
		{"killed", check.Observation{Kind: scenario.OutKilled, Signal: abi.SIGKILL}, Outcome{Kind: KindKilled, Signal: "SIGKILL"}, ""},
		{"blocked", check.Observation{Kind: scenario.OutBlocked}, Outcome{Kind: KindBlocked}, ""},
		{"fault", check.Observation{Kind: scenario.OutFault, Addr: 0x7fff1000, Write: true, Minor: true},
			Outcome{Kind: KindFault, Address: &Address{Expr: "A+0x1000", Region: "A", Offset: 0x1000}, Write: true, Minor: true}, "0x7fff1000"},
		{"fault wp", check.Observation{Kind: scenario.OutFault, Addr: 0x7fff0000, WP: true},
			Outcome{Kind: KindFault, Address: &Address{Expr: "A", Region: "A"}, WP: true}, "0x7fff0000"},
		{"oops", check.Observation{Kind: scenario.OutOops}, Outcome{Kind: KindOops}, ""},
		{"livelock", check.Observation{Kind: scenario.OutLivelock}, Outcome{Kind: KindLivelock}, ""},
		{"count", check.Observation{Kind: scenario.OutCount, Value: 3}, Outcome{Kind: KindCount, Value: u64(3)}, ""},
		{"faults", check.Observation{Kind: scenario.OutFaults, Minflt: 1, Majflt: 0}, Outcome{Kind: KindFaults, Minflt: u64(1), Majflt: u64(0)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := check.Symbolic(tc.obs, env)
			want := tc.sym
			want.Text = text
			if got := ParseOutcome(text); !reflect.DeepEqual(got, want) {
				t.Errorf("Symbolic %q:\n got %+v\nwant %+v", text, got, want)
			}
			text = check.Observed(tc.obs, env)
			want.Text = text
			if want.Address != nil {
				a := *want.Address
				a.Value = tc.abs
				want.Address = &a
			}
			if got := ParseOutcome(text); !reflect.DeepEqual(got, want) {
				t.Errorf("Observed %q:\n got %+v (%+v)\nwant %+v (%+v)", text, got, got.Address, want, want.Address)
			}
		})
	}
}

// TestParseOutcomeOfExpected: expectations as check.Expected prints
// them, with their forms of its own.
func TestParseOutcomeOfExpected(t *testing.T) {
	env := check.NewRegions(0xc3)
	env.Bind("A", 0x7fff0000, 0x4000)
	tests := []struct {
		want *scenario.Outcome
		out  Outcome
	}{
		{nil, Outcome{Kind: KindOK, Note: "no expectation: must not fail"}},
		{&scenario.Outcome{Kind: scenario.OutOK, HasValue: true, ValueRet: true}, Outcome{Kind: KindOK, Ret: true, Value: u64(0xc3)}},
		{&scenario.Outcome{Kind: scenario.OutSignal, Signal: int(abi.SIGSEGV), Code: int(abi.SEGV_MAPERR), Addr: scenario.Addr{Name: "B", Offset: 8}},
			Outcome{Kind: KindSignal, Signal: "SIGSEGV", Code: "SEGV_MAPERR", Address: &Address{Expr: "B+0x8", Region: "B", Offset: 8, Unbound: true}}},
		{&scenario.Outcome{Kind: scenario.OutSignal, Signal: int(abi.SIGBUS), Code: int(abi.BUS_ADRERR), Addr: scenario.Addr{Name: "A"}, HasLSB: true, LSB: 0},
			Outcome{Kind: KindSignal, Signal: "SIGBUS", Code: "BUS_ADRERR", Address: &Address{Expr: "A", Region: "A", Value: "0x7fff0000"}, LSB: intp(0)}},
		{&scenario.Outcome{Kind: scenario.OutFaults, HasMajflt: true, Majflt: 2}, Outcome{Kind: KindFaults, Majflt: u64(2)}},
	}
	for _, tc := range tests {
		text := check.Expected(tc.want, env)
		want := tc.out
		want.Text = text
		if got := ParseOutcome(text); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v (%+v)\nwant %+v (%+v)", text, got, got.Address, want, want.Address)
		}
	}
}

// TestParseOutcomeOther: the runners' own forms, and text that is no
// outcome, which stays unknown rather than half read.
func TestParseOutcomeOther(t *testing.T) {
	tests := []struct {
		text string
		kind string
		note string
	}{
		{"not run", KindNotRun, ""},
		{"(not run)", KindNotRun, ""},
		{"not run: region B is not bound", KindNotRun, "region B is not bound"},
		{"-", KindNone, ""},
		{"", KindNone, ""},
		{"?", KindUnknown, ""},
		{"ok sometimes", KindUnknown, ""},
		{"SIGSEGV SEGV_MAPERR @", KindUnknown, ""},
		{"SIGSEGV SEGV_MAPERR @A+zz", KindUnknown, ""},
		{"fault @A bogus", KindUnknown, ""},
		{"minflt=1 minflt=2", KindUnknown, ""},
		{"minflt=x", KindUnknown, ""},
		{"killed SIGKILL now", KindUnknown, ""},
		{"18446744073709551616", KindUnknown, ""},
	}
	for _, tc := range tests {
		got := ParseOutcome(tc.text)
		if got.Kind != tc.kind || got.Note != tc.note || got.Text != tc.text {
			t.Errorf("%q: %+v, want kind %s note %q", tc.text, got, tc.kind, tc.note)
		}
		if tc.kind == KindUnknown && (got.Address != nil || got.Value != nil || got.Minflt != nil || got.Signal != "") {
			t.Errorf("%q: unknown, yet fields set: %+v", tc.text, got)
		}
	}
}

func TestParseFileError(t *testing.T) {
	tests := []struct {
		text         string
		file         string
		line, column int
		msg          string
	}{
		{`a/b.fault:4:9: expected a byte value, found "0x100"`, "a/b.fault", 4, 9, `expected a byte value, found "0x100"`},
		{"open x.fault: no such file or directory", "x.fault", 0, 0, "no such file or directory"},
		{"stat dir/y.fault: permission denied", "dir/y.fault", 0, 0, "permission denied"},
		{"/dev/zero: expected a regular file, found a character device", "/dev/zero", 0, 0, "expected a regular file, found a character device"},
		{"something else entirely", "", 0, 0, "something else entirely"},
	}
	for _, tc := range tests {
		e := ParseFileError(tc.text)
		if e.File != tc.file || e.Line != tc.line || e.Column != tc.column || e.Message != tc.msg || e.Text != tc.text || e.Type != TypeError {
			t.Errorf("%q: %+v", tc.text, e)
		}
	}
}
