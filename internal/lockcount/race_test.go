//go:build race

package lockcount

// raceEnabled: built with -race, whose runtime (tsan) takes its own locks
// around every atomic: the counts would be of the instrumentation.
const raceEnabled = true
