package bench

import (
	"context"
	"fmt"
	"math"
)

// Side is one side's measurements of a workload: the model's or the
// host's.
type Side struct {
	Rates   []float64 // faults per second, one per run
	Stats   Stats     // over Rates
	Faults  []uint64  // faults counted, one per run
	Missing string    // why this side has no numbers ("" when it has)
	Failed  bool      // Missing is an error, not a skip nor a choice
	// Mismatch says a run counted other than one fault per op ("" when
	// every run counted exactly ops).
	Mismatch string
}

// Ran reports whether the side has numbers.
func (s Side) Ran() bool { return s.Missing == "" && len(s.Rates) > 0 }

// Result is one workload measured on both sides.
type Result struct {
	Workload    Workload
	Ops         uint64
	Runs        int
	Model, Host Side
	// Ratio is model/host (min over min, median over median), when both
	// sides ran.
	Ratio *Stats
	// ModelScaling and HostScaling are the median rate of threads-N or
	// procs-N over threads-1's, for N > 1, when both ran on that side.
	ModelScaling, HostScaling *float64
}

// Config is what a bench run does.
type Config struct {
	Workloads []Workload
	Ops       uint64
	Runs      int
	Model     *Model // nil: not run (--host-only)
	Host      *Host  // nil: not run, HostMissing says why
	// HostMissing is why the host side does not run (--model-only, not
	// Linux, no C compiler).
	HostMissing string
}

// Run measures every workload, Runs times on each side, the model's and
// the host's runs of a workload taking turns (after one warm-up run on
// each side, not counted), so that both see the same moments of a shared
// machine. It calls each with every result as it is complete, and
// returns them all. ctx ends it between runs (and a Host closed meanwhile
// ends a host run at once); what was not measured is missing.
func Run(ctx context.Context, c Config, each func(Result)) []Result {
	var out []Result
	byName := map[string]Result{}
	for _, w := range c.Workloads {
		r := Result{Workload: w, Ops: c.Ops, Runs: c.Runs}
		type side struct {
			s   *Side
			run func() (Sample, error)
		}
		var sides []side
		if c.Model != nil {
			m := *c.Model
			sides = append(sides, side{&r.Model, func() (Sample, error) { return m.Run(w, c.Ops) }})
		} else {
			r.Model.Missing = "not run (--host-only)"
		}
		if c.Host != nil {
			h := c.Host
			sides = append(sides, side{&r.Host, func() (Sample, error) { return h.Run(w, c.Ops) }})
		} else {
			r.Host.Missing = c.HostMissing
		}
		for i := -1; i < c.Runs; i++ {
			for _, sd := range sides {
				if sd.s.Missing != "" {
					continue
				}
				if ctx.Err() != nil {
					sd.s.Missing = "interrupted"
					continue
				}
				s, err := sd.run()
				if err != nil {
					if ctx.Err() != nil {
						sd.s.Missing = "interrupted"
					} else {
						sd.s.Missing = err.Error()
						sd.s.Failed = !IsSkip(err)
					}
					continue
				}
				if i < 0 {
					continue // the warm-up
				}
				sd.s.Rates = append(sd.s.Rates, s.Rate())
				sd.s.Faults = append(sd.s.Faults, s.Faults)
				if s.Faults != s.Ops && sd.s.Mismatch == "" {
					sd.s.Mismatch = fmt.Sprintf("%d faults counted for %d ops", s.Faults, s.Ops)
				}
			}
		}
		for _, sd := range sides {
			if sd.s.Missing != "" {
				sd.s.Rates, sd.s.Faults = nil, nil
			}
			sd.s.Stats = Summarize(sd.s.Rates)
		}
		if r.Model.Ran() && r.Host.Ran() {
			q := Ratio(r.Model.Stats, r.Host.Stats)
			r.Ratio = &q
		}
		if (w.Kind == Threads || w.Kind == Procs) && w.Threads > 1 {
			if one, ok := byName["threads-1"]; ok {
				r.ModelScaling = scaling(r.Model, one.Model)
				r.HostScaling = scaling(r.Host, one.Host)
			}
		}
		out = append(out, r)
		byName[w.Name] = r
		if each != nil {
			each(r)
		}
	}
	return out
}

// scaling is n's median rate over one's, when both ran.
func scaling(n, one Side) *float64 {
	if !n.Ran() || !one.Ran() || one.Stats.Median == 0 {
		return nil
	}
	x := n.Stats.Median / one.Stats.Median
	if math.IsNaN(x) {
		return nil
	}
	return &x
}
