//go:build race

package machine_test

// raceEnabled: built with -race, whose runtime allocates for its shadow
// state on paths that allocate nothing otherwise.
const raceEnabled = true
