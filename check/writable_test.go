package check

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/scenario"
)

// TestWritable checks that every kind of outcome is written as an
// expectation that parses on the statement, that Match accepts the
// observation against that expectation, and that exact says whether the
// statement's own expectation already says as much.
func TestWritable(t *testing.T) {
	r := NewRegions(0xc3)
	r.Bind("A", 0x10000, 0x4000)
	r.Bind("B", 0x20000, 0x1000)
	r.Bind("R", 0x10000, 0x400000) // holds A: A, named by the statement, wins
	segv := func(addr uint64) Observation {
		return Observation{Kind: scenario.OutSignal, Signal: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: addr}
	}
	tests := []struct {
		name  string
		stmt  string // the statement line; "wait t" statements follow "t: read A &"
		obs   Observation
		want  string
		exact bool
	}{
		{"plain ok, no expectation", "mmap C 1p rw private anon", Observation{Kind: scenario.OutOK}, "ok", true},
		{"read byte, no expectation", "read A", Observation{Kind: scenario.OutOK, HasValue: true, Value: 0x41}, "ok 0x41", false},
		{"read byte stated", "read A => ok 0x41", Observation{Kind: scenario.OutOK, HasValue: true, Value: 0x41}, "ok 0x41", true},
		{"read byte left open", "read A => ok", Observation{Kind: scenario.OutOK, HasValue: true, Value: 0x41}, "ok 0x41", false},
		{"read ret", "read A => ok ret", Observation{Kind: scenario.OutOK, HasValue: true, Value: 0xc3}, "ok ret", true},
		{"read the ret byte, not stated ret", "read A => ok 0", Observation{Kind: scenario.OutOK, HasValue: true, Value: 0xc3}, "ok 0xc3", false},
		{"kread count", "kread A 8192", Observation{Kind: scenario.OutOK, HasValue: true, Value: 4096}, "ok 4096", false},
		{"kwrite count stated", "kwrite A 8192 => ok 4096", Observation{Kind: scenario.OutOK, HasValue: true, Value: 4096}, "ok 4096", true},
		{"uffd copy count", "uffd U copy A 1p", Observation{Kind: scenario.OutOK, HasValue: true, Value: 4096}, "ok 4096", false},
		{"kderef byte", "kderef A => ok", Observation{Kind: scenario.OutOK, HasValue: true, Value: 0x5a}, "ok 0x5a", false},
		{"signal at the operand", "read A+1p+16", segv(0x11010), "SIGSEGV SEGV_MAPERR @A+1p+16", false},
		{"signal as the expectation names it", "read A+16 => SIGSEGV SEGV_MAPERR @B-0xfff0", segv(0x10010), "SIGSEGV SEGV_MAPERR @B-15p-4080", true},
		{"signal in a region the statement names", "touch A 4p write", segv(0x12000), "SIGSEGV SEGV_MAPERR @A+2p", false},
		{"signal past a region's end", "write B+1p+16", segv(0x21010), "SIGSEGV SEGV_MAPERR @B+1p+16", false},
		{"signal below a region", "read 0xf000", segv(0xf000), "SIGSEGV SEGV_MAPERR @A-1p", false},
		{"signal far from any region", "read 0xffffffffff600000", segv(0xffffffffff600000), "SIGSEGV SEGV_MAPERR @0xffffffffff600000", false},
		{"SIGBUS has its lsb", "read A => SIGBUS BUS_ADRERR @A",
			Observation{Kind: scenario.OutSignal, Signal: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: 0x10000}, "SIGBUS BUS_ADRERR @A lsb=0", false},
		{"SIGBUS lsb stated", "read A => SIGBUS BUS_MCEERR_AR @A lsb=12",
			Observation{Kind: scenario.OutSignal, Signal: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, Addr: 0x10000, LSB: 12}, "SIGBUS BUS_MCEERR_AR @A lsb=12", true},
		{"errno", "munmap A 1p", Observation{Kind: scenario.OutErrno, Errno: abi.EINVAL}, "EINVAL", false},
		{"killed", "read A => killed SIGKILL", Observation{Kind: scenario.OutKilled, Signal: abi.SIGKILL}, "killed SIGKILL", true},
		{"uffd event", "uffd U event", Observation{Kind: scenario.OutFault, Addr: 0x11000, Write: true}, "fault A+1p write", false},
		{"uffd event stated", "uffd U event => fault A+1p write wp", Observation{Kind: scenario.OutFault, Addr: 0x11000, Write: true, WP: true}, "fault A+1p write wp", true},
		{"caught", "caught main SIGUSR1 => 0", Observation{Kind: scenario.OutCount, Value: 2}, "2", false},
		{"faults, both stated", "faults main => minflt=1 majflt=0", Observation{Kind: scenario.OutFaults, Minflt: 1}, "minflt=1 majflt=0", true},
		{"faults, majflt alone", "faults main => majflt=0", Observation{Kind: scenario.OutFaults, Minflt: 7, Majflt: 1}, "majflt=1", false},
		{"faults, minflt alone", "faults main => minflt=3", Observation{Kind: scenario.OutFaults, Minflt: 3, Majflt: 1}, "minflt=3", true},
		{"blocked", "read A", Observation{Kind: scenario.OutBlocked}, "blocked", false},
		{"livelock", "kwrite A 8", Observation{Kind: scenario.OutLivelock}, "livelock", false},
		{"oops", "kderef 0", Observation{Kind: scenario.OutOops}, "oops", false},
		{"wait names the waited statement's operand", "wait t", segv(0x10008), "SIGSEGV SEGV_MAPERR @A+8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := "scenario w\nmmap A 4p rw private anon\nmmap B 1p rw private anon\nmmap R 4M rw private anon\nthread t\nuffd U register A 4p missing\nt: read A+8 &\n"
			s := parse(t, head+tt.stmt+"\n")
			st := s.Body[len(s.Body)-1]
			origin := st
			if _, wait := st.Op.(*scenario.Wait); wait {
				origin = s.Body[len(s.Body)-2]
			}
			want := st.ExpectFor("x86_64", false, config.Default().Version)
			got, exact := Writable(st, origin, want, tt.obs, r)
			if got != tt.want || exact != tt.exact {
				t.Fatalf("Writable = %q, exact %v; want %q, exact %v", got, exact, tt.want, tt.exact)
			}
			// Written back, it parses and holds.
			again := parse(t, head+fmt.Sprintf("%s => %s\n", stmtOnly(tt.stmt), got))
			st2 := again.Body[len(again.Body)-1]
			if ok, note := Match(st2.Expect, tt.obs, r); !ok {
				t.Errorf("%q does not match the observation it was written from (%s)", got, note)
			}
			if _, exact := Writable(st2, origin, st2.Expect, tt.obs, r); !exact {
				t.Errorf("%q written back is not exact", got)
			}
		})
	}
}

func parse(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("w.fault", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return s
}

// stmtOnly is a statement line without its expectation.
func stmtOnly(line string) string {
	for i := 0; i+2 <= len(line); i++ {
		if line[i:i+2] == "=>" {
			return line[:i]
		}
	}
	return line
}

// TestOutcomePrinters checks that what run and conform print of an
// outcome (Observed, Symbolic, Expected) is valid as the outcome of a
// statement, the resolution of names after a "#".
func TestOutcomePrinters(t *testing.T) {
	r := NewRegions(0xc3)
	r.Bind("A", 0x10000, 0x4000)
	obs := []Observation{
		{Kind: scenario.OutSignal, Signal: abi.SIGSEGV, Code: abi.SEGV_ACCERR, Addr: 0x10010},
		{Kind: scenario.OutSignal, Signal: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: 0x10000},
		{Kind: scenario.OutSignal, Signal: abi.SIGSEGV, Code: abi.SI_KERNEL, Addr: 0},
	}
	for _, o := range obs {
		for _, text := range []string{Observed(o, r), Symbolic(o, r)} {
			s := parse(t, "scenario p\nmmap A 4p rw private anon\nread A => "+text+"\n")
			if ok, note := Match(s.Body[1].Expect, o, r); !ok {
				t.Errorf("%q: does not match what it prints (%s)", text, note)
			}
			parse(t, "scenario p\nmmap A 4p rw private anon\nread A => "+Expected(s.Body[1].Expect, r)+"\n")
		}
	}
	ev := Observation{Kind: scenario.OutFault, Addr: 0x11000, Write: true}
	for _, text := range []string{Observed(ev, r), Symbolic(ev, r)} {
		s := parse(t, "scenario p\nmmap A 4p rw private anon\nuffd U register A 4p missing\nuffd U event => "+text+"\n")
		if ok, note := Match(s.Body[2].Expect, ev, r); !ok {
			t.Errorf("%q: does not match what it prints (%s)", text, note)
		}
		parse(t, "scenario p\nmmap A 4p rw private anon\nuffd U register A 4p missing\nuffd U event => "+Expected(s.Body[2].Expect, r)+"\n")
	}
	for _, want := range []string{"read A", "read A => ok ret", "read A => SIGSEGV SEGV_MAPERR @B+16"} {
		s := parse(t, "scenario p\nmmap A 4p rw private anon\nmmap B 1p rw private anon\n"+want+"\n")
		parse(t, "scenario p\nmmap A 4p rw private anon\nmmap B 1p rw private anon\nread A => "+Expected(s.Body[2].Expect, r)+"\n")
	}
}
