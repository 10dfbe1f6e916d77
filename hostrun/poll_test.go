//go:build linux

package hostrun

import "testing"

// TestBackoff: the looks of a wait start at firstLook and double up to
// lookCap, and stay there.
func TestBackoff(t *testing.T) {
	var b backoff
	want := firstLook
	for i := range 20 {
		got := b.step()
		if got != want {
			t.Fatalf("look %d after %v, want %v", i, got, want)
		}
		want = min(2*want, lookCap)
	}
	if want != lookCap {
		t.Fatalf("the looks never reached lookCap %v", lookCap)
	}
}

// TestSettle: settle ends as soon as its state holds (read once more
// after each look), and says false when its bound passes first.
func TestSettle(t *testing.T) {
	reads := 0
	if !settle(DefaultLimit, func() bool { reads++; return reads == 3 }) || reads != 3 {
		t.Errorf("settle: %d reads, want true after 3", reads)
	}
	if settle(0, func() bool { return false }) {
		t.Errorf("settle with no time left and a state that never holds said true")
	}
}
