package main

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// inOrder runs work(0) … work(n-1) on workers goroutines (every CPU when
// workers <= 0) and calls emit(i) in index order, each as soon as work(i)
// and every emit before it are done: output streams in the order of the
// input, whichever run ends first. Each work(i) must touch only what is
// its own (a scenario's run has its machine of its own).
func inOrder(n, workers int, work, emit func(i int)) {
	parts := make([]part, n)
	for i := range parts {
		parts[i] = part{job: i}
	}
	inOrderParts(n, workers, parts, func(p part) { work(p.job) }, emit)
}

// part is one piece of work of a job: the index'th of the job's parts,
// with its estimated cost in any unit (only the order counts).
type part struct {
	job, index int
	cost       int64
}

// inOrderParts runs every part on workers goroutines (every CPU when
// workers <= 0), the costliest first, and calls emit(i) for each of the n
// jobs in index order, as soon as every part of job i and every emit
// before it are done. Taking the long parts first keeps one long part
// from starting last and running alone while the other CPUs idle (the
// longest-processing-time rule); emitting in job order keeps the output
// the input's order whatever ends first. A job with no parts is done at
// once. Each work(p) must touch only what is its own.
func inOrderParts(n, workers int, parts []part, work func(p part), emit func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	left := make([]atomic.Int32, n)
	for _, p := range parts {
		left[p.job].Add(1)
	}
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
		if left[i].Load() == 0 {
			close(done[i])
		}
	}
	order := slices.Clone(parts)
	slices.SortStableFunc(order, func(a, b part) int { return cmp.Compare(b.cost, a.cost) })
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(len(order), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(order) {
					return
				}
				p := order[k]
				work(p)
				if left[p.job].Add(-1) == 0 {
					close(done[p.job])
				}
			}
		}()
	}
	for i := range n {
		<-done[i]
		emit(i)
	}
	wg.Wait()
}
