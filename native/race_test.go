//go:build race

package native_test

// raceEnabled: the race detector slows the property test about tenfold,
// so it samples.
const raceEnabled = true
