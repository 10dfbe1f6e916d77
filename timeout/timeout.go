// Package timeout is the one knob of faultline's wall-clock safety nets:
// a factor that every bound on a wait is multiplied by, so that a loaded or
// emulated machine can widen them all at once.
//
// No outcome is decided by a wall-clock bound being short: the model
// runner waits for as long as the model makes progress, and the host
// runner reads from the kernel whether a thread is blocked. A bound only
// ends a run that stopped making progress, and that run is reported as
// timed out, not as a wrong answer.
//
// The factor comes from a command-line flag (carried in a context with
// WithScale) or, without one, from the environment variable
// FAULTLINE_TIMEOUT_SCALE, read once per process; tests use the latter.
package timeout

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvVar names the environment variable holding the default factor.
const EnvVar = "FAULTLINE_TIMEOUT_SCALE"

// maxScale bounds the factor, so that a scaled bound cannot overflow.
const maxScale = 1e6

// Scale multiplies wall-clock bounds. The zero Scale means the default:
// the environment's factor, else 1.
type Scale float64

// Parse reads a factor: a positive number up to a million ("2", "0.5").
func Parse(s string) (Scale, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > maxScale {
		return 0, fmt.Errorf("timeout scale %q: want a positive number up to %g", s, float64(maxScale))
	}
	return Scale(f), nil
}

// env is FAULTLINE_TIMEOUT_SCALE, read once: 1 when unset or empty.
var env = sync.OnceValues(func() (Scale, error) { return fromEnv(os.LookupEnv(EnvVar)) })

// fromEnv reads the variable's value, set or not.
func fromEnv(v string, set bool) (Scale, error) {
	if !set || strings.TrimSpace(v) == "" {
		return 1, nil
	}
	s, err := Parse(v)
	if err != nil {
		return 1, fmt.Errorf("%s: %w", EnvVar, err)
	}
	return s, nil
}

// Env returns the factor FAULTLINE_TIMEOUT_SCALE sets (1 when it is
// unset), or the error that makes it unusable (with 1).
func Env() (Scale, error) { return env() }

// Default is the factor bounds use when nothing else is given: Env's, or
// 1 when the variable is not a valid factor (commands report that).
func Default() Scale {
	s, _ := env()
	return s
}

// resolve turns the zero Scale into the default.
func (s Scale) resolve() Scale {
	if s <= 0 || math.IsNaN(float64(s)) {
		return Default()
	}
	return min(s, maxScale)
}

// Factor returns the factor s stands for (the default for the zero Scale).
func (s Scale) Factor() float64 { return float64(s.resolve()) }

// Of returns d multiplied by s (by the default factor for the zero Scale).
func (s Scale) Of(d time.Duration) time.Duration {
	v := float64(d) * float64(s.resolve())
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(v)
}

type ctxKey struct{}

// WithScale returns a context carrying s, for the host-side code that
// receives a context rather than options.
func WithScale(ctx context.Context, s Scale) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// FromContext returns the Scale ctx carries, or the zero Scale (the
// default) when it carries none.
func FromContext(ctx context.Context) Scale {
	if ctx == nil {
		return 0
	}
	s, _ := ctx.Value(ctxKey{}).(Scale)
	return s
}
