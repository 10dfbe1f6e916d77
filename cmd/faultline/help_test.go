package main

import (
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/docs"
)

// TestHelpExit: help of what does not exist, an unknown command or an
// unknown flag exits 2 with a message; help of what does, 0.
func TestHelpExit(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // on stderr
	}{
		{[]string{"help", "nosuch"}, 2, "help nosuch: no such command or topic"},
		{[]string{"help", "run", "nosuch"}, 2, "help run nosuch: no such command or topic"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"--nosuch"}, 2, "unknown flag: --nosuch"},
		{[]string{"run", "--nosuch"}, 2, "unknown flag: --nosuch"},
		{[]string{"help"}, 0, ""},
		{[]string{"help", "run"}, 0, ""},
		{[]string{"help", "completion", "bash"}, 0, ""},
		{[]string{"help", "scenario-format"}, 0, ""},
		{[]string{"run", "--help"}, 0, ""},
	}
	for _, tc := range tests {
		_, errOut, code := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || tc.want == "" && errOut != "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestHelpBench: bench takes its topic's name, and its help is the
// document, docs/bench.md.
func TestHelpBench(t *testing.T) {
	want, err := os.ReadFile("../../docs/bench.md")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI("help", "bench")
	if code != 0 || !strings.HasPrefix(out, strings.TrimSpace(string(want))) || !strings.Contains(out, "--model-only") {
		t.Errorf("help bench: exit %d, stderr %q; want docs/bench.md then the flags:\n%s", code, errOut, out)
	}
	list, _, _ := runCLI("help")
	if !strings.Contains(list, "bench ") {
		t.Errorf("help does not list bench:\n%s", list)
	}
}

// TestHelpTopics: each shipped document is a topic, listed by help and
// printed byte for byte as it is in docs/.
func TestHelpTopics(t *testing.T) {
	list, _, _ := runCLI("help")
	if !strings.Contains(list, "Additional help topics") {
		t.Fatalf("help lists no topics:\n%s", list)
	}
	for _, name := range []string{"scenario-format", "kernel-versions", "host-detection", "conversion-report"} {
		want, err := os.ReadFile("../../docs/" + name + ".md")
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runCLI("help", name)
		if code != 0 || out != string(want) {
			t.Errorf("help %s: exit %d, stderr %q, %d bytes; want the %d of docs/%s.md", name, code, errOut, len(out), len(want), name)
		}
		tp, _ := docs.Lookup(name)
		if !strings.Contains(list, name) || !strings.Contains(list, tp.Title) {
			t.Errorf("help does not list %s (%s)", name, tp.Title)
		}
	}
}
