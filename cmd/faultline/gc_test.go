package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent reads GOGC's current value.
func gcPercent() int {
	v := debug.SetGCPercent(100)
	debug.SetGCPercent(v)
	return v
}

// TestTuneGCForCorpus: a corpus command runs at corpusGCPercent unless
// the environment sets GOGC, and puts the old value back when it ends.
func TestTuneGCForCorpus(t *testing.T) {
	tests := []struct {
		name   string
		env    string // GOGC, "" for unset
		during int
	}{
		{"unset", "", corpusGCPercent},
		{"set by the user", "50", 77}, // the value in force (77) stays
		{"off by the user", "off", 77},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("GOGC", tc.env)
			} else if v, ok := os.LookupEnv("GOGC"); ok {
				t.Setenv("GOGC", v) // restored after
				os.Unsetenv("GOGC")
			}
			defer debug.SetGCPercent(debug.SetGCPercent(77))
			restore := tuneGCForCorpus()
			if got := gcPercent(); got != tc.during {
				t.Errorf("GOGC during the command = %d, want %d", got, tc.during)
			}
			restore()
			if got := gcPercent(); got != 77 {
				t.Errorf("GOGC after the command = %d, want 77", got)
			}
		})
	}
}
