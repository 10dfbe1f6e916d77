//go:build race

package machine_test

// raceEnabled: the race detector's instrumentation allocates.
const raceEnabled = true
