package timeout

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Scale
		ok   bool
	}{
		{"1", 1, true}, {"2.5", 2.5, true}, {" 4 ", 4, true}, {"0.25", 0.25, true}, {"1e6", 1e6, true},
		{"0", 0, false}, {"-1", 0, false}, {"NaN", 0, false}, {"Inf", 0, false}, {"1e7", 0, false}, {"x", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		v       string
		set, ok bool
		want    Scale
	}{
		{"", false, true, 1}, {"", true, true, 1}, {"3", true, true, 3}, {"zero", true, false, 1}, {"-2", true, false, 1},
	}
	for _, tc := range tests {
		got, err := fromEnv(tc.v, tc.set)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("fromEnv(%q, %v) = %v, %v; want %v (ok %v)", tc.v, tc.set, got, err, tc.want, tc.ok)
		}
	}
}

func TestOf(t *testing.T) {
	tests := []struct {
		s    Scale
		d    time.Duration
		want time.Duration
	}{
		{2, time.Second, 2 * time.Second},
		{0.5, 3 * time.Second, 1500 * time.Millisecond},
		{1e6, math.MaxInt64 / 2, math.MaxInt64}, // saturates, never wraps
		{1e9, time.Second, 1e6 * time.Second},   // beyond the range: the largest factor
		{0, time.Second, Default().Of(time.Second)},
		{-1, time.Second, Default().Of(time.Second)},
	}
	for _, tc := range tests {
		if got := tc.s.Of(tc.d); got != tc.want {
			t.Errorf("Scale(%v).Of(%v) = %v, want %v", tc.s, tc.d, got, tc.want)
		}
	}
}

func TestContext(t *testing.T) {
	if s := FromContext(context.Background()); s != 0 {
		t.Fatalf("an empty context carries %v", s)
	}
	if s := FromContext(WithScale(context.Background(), 3)); s != 3 || s.Of(time.Second) != 3*time.Second {
		t.Fatalf("got %v", s)
	}
}
