//go:build race

package main

// raceEnabled: the race detector slows a corpus run about tenfold, so
// TestParallelRunIsSerial samples the corpus under it.
const raceEnabled = true
