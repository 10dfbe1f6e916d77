package stream

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestWriteRead: what Writer writes, Read gives back as the same types,
// one line per value, each a JSON object.
func TestWriteRead(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	vals := []any{
		Host{Type: TypeHost, Command: CommandConform, Arch: "x86_64", Kernel: "6.18.44", Config: map[string]string{"kernel": "6.18"}},
		ConformScenario{Type: TypeScenario, Command: CommandConform, Scenario: "s", Class: "model wrong",
			Diffs: []Disagreement{{Statement: "read A => ok", Expected: ParseOutcome("ok"), Host: ParseOutcome("EFAULT"), Model: ParseOutcome("ok")}}},
		Error{Type: TypeError, Command: CommandConform, File: "f", Line: 1, Column: 2, Message: "m", Text: "f:1:2: m"},
		ConformSummary{Type: TypeSummary, Command: CommandConform, ModelWrong: 1},
		RunScenario{Type: TypeScenario, Command: CommandRun, Status: "pass"},
		RunSummary{Type: TypeSummary, Command: CommandRun, Counts: Counts{Runs: 1, Passed: 1}},
		Difference{Type: TypeDifference, Command: CommandDiff, Rule: "r", Native: ParseOutcome("oops")},
		NotCompared{Type: TypeNotCompared, Command: CommandDiff, Reason: "why"},
		DiffSummary{Type: TypeSummary, Command: CommandDiff, Differences: 1},
	}
	for _, v := range vals {
		if err := w.Write(v); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(b.String(), "\n"); n != len(vals) {
		t.Fatalf("%d lines for %d values:\n%s", n, len(vals), b.String())
	}
	b.WriteString("\n{\"type\":\"progress\",\"command\":\"run\"}\n") // a blank line, a type of a newer faultline
	var got []Record
	if err := Read(&b, "s.json", func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(vals)+1 {
		t.Fatalf("%d records, want %d", len(got), len(vals)+1)
	}
	if c, ok := got[1].Value.(*ConformScenario); !ok || c.Class != "model wrong" || c.Diffs[0].Host.Errno != "EFAULT" {
		t.Errorf("line 2: %#v", got[1].Value)
	}
	if s, ok := got[5].Value.(*RunSummary); !ok || s.Passed != 1 {
		t.Errorf("line 6: %#v", got[5].Value)
	}
	if d, ok := got[6].Value.(*Difference); !ok || d.Native.Kind != KindOops {
		t.Errorf("line 7: %#v", got[6].Value)
	}
	if last := got[len(got)-1]; last.Value != nil || last.Head.Type != "progress" || last.Line != len(vals)+2 {
		t.Errorf("the unknown type: %+v", last)
	}
}

// TestReadRejects: what is not a stream is an error naming the line.
func TestReadRejects(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"summary","command":"run"}` + "\nPASS  x86_64 native s\n", "x:2: not a JSON object"},
		{`{"reports": []}`, `x:1: an object without "type"`},
		{`{"type":"summary","command":"run","runs":"many"}`, "x:1: a summary line of run that does not fit the schema"},
		{`{"type":"scenario"`, "x:1: not JSON"},
		{`[1,2]`, "x:1: not a JSON object"},
		{"{" + strings.Repeat(" ", MaxLine+1) + "}", "x:1: a line longer than 16 MiB"},
	}
	for _, tc := range tests {
		err := Read(strings.NewReader(tc.in), "x", func(Record) error { return nil })
		var re *ReadError
		if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%.40q: %v, want %q", tc.in, err, tc.want)
		}
	}
}
