package main

import (
	"runtime"
	"sync"
)

// inOrder runs work(0) … work(n-1) on workers goroutines (every CPU when
// workers <= 0) and calls emit(i) in index order, each as soon as work(i)
// and every emit before it are done: output streams in the order of the
// input, whichever run ends first. Each work(i) must touch only what is
// its own (a scenario's run has its machine of its own).
func inOrder(n, workers int, work, emit func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				work(i)
				close(done[i])
			}
		}()
	}
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for i := range n {
		<-done[i]
		emit(i)
	}
	wg.Wait()
}
