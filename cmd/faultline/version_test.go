package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	rev := "0fa9d44bc942c4d4642f1a2915dc8be2cf9c97b7"
	tests := []struct {
		name    string
		bi      *debug.BuildInfo
		ok      bool
		want    []string
		notWant []string
	}{
		{"stamped", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"},
		}}, true, []string{"faultline v0.3.0 ", "revision " + rev, "committed 2026-12-01T10:00:00Z", "go1.26.8"}, []string{"modified", "no VCS"}},
		{"modified", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"},
		}}, true, []string{"faultline (devel) ", "revision " + rev + ", modified"}, []string{"committed", "no VCS"}},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true,
			[]string{"faultline (devel) ", "no VCS revision: built with -buildvcs=false"}, []string{"revision 0"}},
		{"test binary", &debug.BuildInfo{}, true, []string{"faultline (devel) ", runtime.Version()}, nil},
		{"no build info", nil, false, []string{"no build information", runtime.GOOS + "/" + runtime.GOARCH}, nil},
	}
	for _, tc := range tests {
		got := versionText(tc.bi, tc.ok)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q has %q", tc.name, got, w)
			}
		}
		if strings.Contains(got, "\n") {
			t.Errorf("%s: %q is more than one line", tc.name, got)
		}
	}
}

// TestVersionCommands: the command and the flag print the same line, the
// binary's own.
func TestVersionCommands(t *testing.T) {
	out1, _, code1 := runCLI("version")
	out2, _, code2 := runCLI("--version")
	if code1 != 0 || code2 != 0 || out1 != out2 || out1 != buildVersion()+"\n" {
		t.Fatalf("version: exit %d %q; --version: exit %d %q", code1, out1, code2, out2)
	}
	if _, _, code := runCLI("version", "extra"); code != 2 {
		t.Errorf("version extra: exit %d, want 2", code)
	}
}
