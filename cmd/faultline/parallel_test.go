package main

import (
	"sync/atomic"
	"testing"
)

// TestInOrder: every work runs once, and emit sees the indices in order,
// each after its work.
func TestInOrder(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100} {
		done := make([]atomic.Bool, n)
		var runs atomic.Int64
		var got []int
		inOrder(n, func(i int) {
			runs.Add(1)
			done[i].Store(true)
		}, func(i int) {
			if !done[i].Load() {
				t.Errorf("n=%d: emit(%d) before its work", n, i)
			}
			got = append(got, i)
		})
		if int(runs.Load()) != n || len(got) != n {
			t.Fatalf("n=%d: %d works, %d emits", n, runs.Load(), len(got))
		}
		for i, g := range got {
			if g != i {
				t.Fatalf("n=%d: emitted %v", n, got)
			}
		}
	}
}
