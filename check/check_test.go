package check

import (
	"errors"
	"strings"
	"testing"

	"github.com/faultline/faultline/scenario"
)

// TestResolve checks that a region-relative address resolves within the
// address space and is refused, with its position, where it would wrap.
func TestResolve(t *testing.T) {
	r := NewRegions(0xc3)
	r.Bind("LOW", 0x1000, 0x1000)
	r.Bind("HIGH", 0xfffffffffffff000, 0x1000)
	at := scenario.Pos{File: "w.fault", Line: 3, Col: 6}
	neg := func(n uint64) uint64 { return -n }
	tests := []struct {
		name   string
		addr   scenario.Addr
		want   uint64
		reason string // "" when it resolves
	}{
		{"absolute", scenario.Addr{Offset: 0xffffffffffffffff}, 0xffffffffffffffff, ""},
		{"down to 0", scenario.Addr{Name: "LOW", Offset: neg(0x1000)}, 0, ""},
		{"below 0", scenario.Addr{Name: "LOW", Offset: neg(0x1001)}, 0,
			"w.fault:3:6: address LOW-0x1001 wraps around: region LOW starts at 0x1000, and the offset takes it below 0"},
		{"far below 0", scenario.Addr{Name: "LOW", Offset: 1 << 63}, 0, "LOW-0x8000000000000000 wraps around"},
		{"up to the top", scenario.Addr{Name: "HIGH", Offset: 0xfff}, 0xffffffffffffffff, ""},
		{"past the top", scenario.Addr{Name: "HIGH", Offset: 0x1000}, 0,
			"w.fault:3:6: address HIGH+0x1000 wraps around: region HIGH starts at 0xfffffffffffff000, and the offset takes it past 0xffffffffffffffff"},
		{"largest offset", scenario.Addr{Name: "LOW", Offset: 1<<63 - 1}, 0x8000000000000fff, ""},
		{"unbound", scenario.Addr{Name: "NONE"}, 0, "w.fault:3:6: region NONE is not bound: its mmap did not succeed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.addr.Pos = at
			got, err := r.Resolve(tt.addr)
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve = %#x, %v; want %#x", got, err, tt.want)
				}
				return
			}
			var ae *AddrError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Resolve = %#x, %v; want an *AddrError with %q", got, err, tt.reason)
			}
			// An expectation naming it does not match, and says why.
			want := &scenario.Outcome{Kind: scenario.OutSignal, Addr: tt.addr}
			if ok, note := Match(want, Observation{Kind: scenario.OutSignal}, r); ok || note == "" || strings.Contains(note, "w.fault") {
				t.Errorf("Match = %v, %q; want a mismatch with the reason, without the position", ok, note)
			}
		})
	}
}
