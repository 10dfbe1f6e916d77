//go:build linux

package hostrun

import (
	"strings"
	"testing"
)

// TestWchanShown: one name of a sleeping thread shows wchan, even after
// zeros (a thread still on its runqueue reads 0 for a moment); only a run
// of zeros, or a thread that never sleeps, leaves it hidden.
func TestWchanShown(t *testing.T) {
	asleep := taskStatus{state: 'S', nvcsw: 7}
	running := taskStatus{state: 'R', nvcsw: 7}
	woke := taskStatus{state: 'S', nvcsw: 8}
	zero := wchanReading{before: asleep, after: asleep, wchan: "0"}
	named := wchanReading{before: asleep, after: asleep, wchan: "unix_stream_read_generic"}
	repeat := func(r wchanReading, n int) []wchanReading {
		out := make([]wchanReading, n)
		for i := range out {
			out[i] = r
		}
		return out
	}
	tests := []struct {
		name      string
		readings  []wchanReading
		shown     bool
		whyPrefix string
	}{
		{"a name", []wchanReading{named}, true, ""},
		{"transient zeros, then a name", append(repeat(zero, wchanHiddenAfter-1), named), true, ""},
		{"a run of zeros", append(repeat(zero, wchanHiddenAfter), named), false, `it reads "0" for a sleeping thread, 20 times`},
		{"a name read while it woke does not count", []wchanReading{{before: asleep, after: woke, wchan: "x"}}, false, "main never slept"},
		{"never asleep", repeat(wchanReading{before: running}, 50), false, "main never slept"},
		{"gone", []wchanReading{{gone: true}, named}, false, "its status cannot be read"},
		{"zeros until the readings end", repeat(zero, 3), false, `it reads "0" for a sleeping thread, 3 times`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			shown, why := wchanShown(func() (wchanReading, bool) {
				if i == len(tt.readings) {
					return wchanReading{}, false
				}
				i++
				return tt.readings[i-1], true
			})
			if shown != tt.shown || !strings.HasPrefix(why, tt.whyPrefix) {
				t.Errorf("wchanShown = %v, %q; want %v, %q", shown, why, tt.shown, tt.whyPrefix)
			}
		})
	}
}
