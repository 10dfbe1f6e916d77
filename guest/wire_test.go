package guest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline/faultline/runner"
)

func TestLineRoundTrip(t *testing.T) {
	in := Result{Index: 3, File: "scenarios/a.fault", Report: runner.Report{Scenario: "a", Status: runner.Fail, Steps: []runner.Step{{Index: 1, Checked: true, Observed: "ok"}}}}
	line, err := FormatLine(KindResult, in)
	if err != nil {
		t.Fatal(err)
	}
	kind, payload, ok, err := ParseLine("[   12.3] " + line + "\r\n")
	if !ok || err != nil || kind != KindResult {
		t.Fatalf("ParseLine = %q, %v, %v", kind, ok, err)
	}
	var out Result
	if err := json.Unmarshal(payload, &out); err != nil {
		t.Fatal(err)
	}
	if out.Index != 3 || out.Report.Status != runner.Fail || len(out.Report.Steps) != 1 || out.Report.Steps[0].Observed != "ok" {
		t.Errorf("round trip: got %+v", out)
	}
}

func TestParseLineRejects(t *testing.T) {
	good, _ := FormatLine(KindDone, Done{Count: 2})
	tests := []struct {
		name    string
		line    string
		ok, err bool
	}{
		{"kernel line", "[    1.0] random: crng init done", false, false},
		{"good", good, true, false},
		{"printk inside", strings.Replace(good, `"count"`, `"co[ 3.1] oops"unt"`, 1), true, true},
		{"truncated", good[:len(good)-3], true, true},
		{"no checksum", Prefix + " done {}", true, true},
		{"bad checksum field", Prefix + " done zzzzzzzz {}", true, true},
	}
	for _, tt := range tests {
		_, _, ok, err := ParseLine(tt.line)
		if ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("%s: ok=%v err=%v, want ok=%v err=%v", tt.name, ok, err, tt.ok, tt.err)
		}
	}
}
