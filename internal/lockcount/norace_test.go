//go:build !race

package lockcount

const raceEnabled = false
