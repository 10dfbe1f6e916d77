//go:build !linux

package main

import "io"

// isTerminal: the progress line is drawn on Linux only.
func isTerminal(io.Writer) bool { return false }
