//go:build race

package observe

// raceEnabled: the race detector slows the model about tenfold, and the
// corpus tests then observe a sample of the corpus (every file without it).
const raceEnabled = true
