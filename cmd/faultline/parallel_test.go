package main

import (
	"bytes"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestInOrder: every work runs once, and emit sees the indices in order,
// each after its work.
func TestInOrder(t *testing.T) {
	for _, c := range []struct{ n, workers int }{{0, 0}, {1, 0}, {2, 0}, {7, 0}, {100, 0}, {7, 1}, {100, 3}, {5, 16}} {
		n := c.n
		done := make([]atomic.Bool, n)
		var runs atomic.Int64
		var got []int
		inOrder(n, c.workers, func(i int) {
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

// TestParallelRunIsSerial: the corpus run on every CPU at once streams
// exactly the JSON lines it streams one scenario at a time, but for the
// durations: order and results do not depend on which run ends first.
// Under the race detector, every fourth scenario.
func TestParallelRunIsSerial(t *testing.T) {
	durations := regexp.MustCompile(`"(duration_ns|seconds)":[0-9.e+-]+`)
	files, loadErrs := loadFiles(nil)
	if raceEnabled {
		var sample []source
		for i := 0; i < len(files); i += 4 {
			sample = append(sample, files[i])
		}
		files = sample
	}
	var outs [2]string
	for i, workers := range []int{1, 4} {
		var out, errb bytes.Buffer
		if err := runScenarios(files, loadErrs, runOpts{asJSON: true, workers: workers}, &out, &errb); err != nil {
			t.Fatalf("workers=%d: %v\n%s", workers, err, errb.String())
		}
		outs[i] = durations.ReplaceAllString(out.String(), "")
	}
	if outs[0] != outs[1] {
		t.Errorf("the parallel run's stream differs from the serial run's:\n--- serial\n%s--- parallel\n%s", outs[0], outs[1])
	}
	if n := bytes.Count([]byte(outs[0]), []byte("\n")); n < len(files) {
		t.Errorf("%d lines for %d scenarios", n, len(files))
	}
}

// TestInOrderParts: every part runs once, the costliest first (ties in
// their given order), and each job is emitted in order after all its
// parts, a job without parts too.
func TestInOrderParts(t *testing.T) {
	parts := []part{{0, 0, 1}, {0, 1, 5}, {2, 0, 3}, {2, 1, 5}, {3, 0, 0}}
	for _, workers := range []int{1, 2, 8} {
		var mu sync.Mutex
		var ran []part
		left := map[int]int{0: 2, 2: 2, 3: 1}
		var got []int
		inOrderParts(5, workers, parts, func(p part) {
			mu.Lock()
			ran = append(ran, p)
			left[p.job]--
			mu.Unlock()
		}, func(i int) {
			mu.Lock()
			if left[i] != 0 {
				t.Errorf("workers=%d: job %d emitted with %d parts left", workers, i, left[i])
			}
			mu.Unlock()
			got = append(got, i)
		})
		if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
			t.Errorf("workers=%d: emitted %v", workers, got)
		}
		if len(ran) != len(parts) {
			t.Fatalf("workers=%d: ran %v", workers, ran)
		}
		if want := []part{{0, 1, 5}, {2, 1, 5}, {2, 0, 3}, {0, 0, 1}, {3, 0, 0}}; workers == 1 && !slices.Equal(ran, want) {
			t.Errorf("one worker ran %v, want %v", ran, want)
		}
	}
}
