package lockcount

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      []byte
		locked bool
		kind   string
		rep    bool
	}{
		{"lock xaddq", []byte{0xf0, 0x48, 0x0f, 0xc1, 0x08}, true, "lock", false},
		{"lock cmpxchgl", []byte{0xf0, 0x0f, 0xb1, 0x11}, true, "lock", false},
		{"lock after a segment prefix", []byte{0x64, 0xf0, 0x83, 0x00, 0x01}, true, "lock", false},
		{"xchgq mem", []byte{0x48, 0x87, 0x08}, true, "xchg", false},
		{"xchgl mem, disp8", []byte{0x87, 0x4b, 0x10}, true, "xchg", false},
		{"xchgb mem", []byte{0x86, 0x01}, true, "xchg", false},
		{"xchg reg, reg", []byte{0x48, 0x87, 0xc8}, false, "", false},
		{"xchg eax short form", []byte{0x91}, false, "", false},
		{"mov", []byte{0x48, 0x89, 0x08}, false, "", false},
		{"rep stosq", []byte{0xf3, 0x48, 0xab}, false, "", true},
		{"movdqu (F3 as a mandatory prefix)", []byte{0xf3, 0x0f, 0x6f, 0x00}, false, "", true},
	} {
		locked, kind, rep := Classify(tc.b)
		if locked != tc.locked || kind != tc.kind || rep != tc.rep {
			t.Errorf("%s % x: got (%v, %q, %v), want (%v, %q, %v)", tc.name, tc.b, locked, kind, rep, tc.locked, tc.kind, tc.rep)
		}
	}
}

var counter atomic.Int64

// TestCountsKnownLocks single-steps a body with exactly one LOCK XADD
// (atomic.Int64.Add) and one XCHG (atomic.Int64.Store), the forms Go's
// atomics compile to on amd64: the counter must find both, no more.
func TestCountsKnownLocks(t *testing.T) {
	if name, ok := IsChild(); ok {
		if name != "known" {
			t.Skip("another case")
		}
		body := func() {
			counter.Add(1)
			counter.Store(7)
		}
		if err := Serve(body, body); err != nil {
			t.Fatal(err)
		}
		return
	}
	if raceEnabled {
		t.Skip("the race runtime's own locked instructions would be counted with the body's")
	}
	var out bytes.Buffer
	rep, err := Run("known", []string{"-test.run=^TestCountsKnownLocks$"}, &out)
	switch {
	case errors.Is(err, ErrUnsupported), errors.Is(err, ErrNotPermitted):
		t.Skip(err)
	case err != nil:
		t.Fatalf("%v; the child said:\n%s", err, out.Bytes())
	}
	t.Logf("%d instructions, %d steps, %d locked:\n%s", rep.Instructions, rep.Steps, rep.LockedCount(), rep.Summary())
	kinds := map[string]int{}
	for _, s := range rep.Locked {
		kinds[s.Insn]++
	}
	if kinds["lock"] != 1 || kinds["xchg"] != 1 || len(rep.Locked) != 2 {
		t.Errorf("found %v, want one lock-prefixed and one xchg", kinds)
	}
	if rep.Instructions == 0 || rep.Instructions > 100 {
		t.Errorf("%d instructions for two atomics and a closure call", rep.Instructions)
	}
}
