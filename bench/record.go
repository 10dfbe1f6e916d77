package bench

import "math"

// Record is the JSON line of one workload (docs/json.md, type "bench").
type Record struct {
	Type     string     `json:"type"`    // "bench"
	Command  string     `json:"command"` // "bench"
	Workload string     `json:"workload"`
	About    string     `json:"about"`
	Arch     string     `json:"arch"`             // the host's, and the model's
	Kernel   string     `json:"kernel,omitempty"` // the host kernel's release
	Handler  string     `json:"handler"`          // the model's fault path
	Ops      uint64     `json:"ops"`              // faults per run
	Runs     int        `json:"runs"`
	Threads  int        `json:"threads"`
	Model    SideRecord `json:"model"`
	Host     SideRecord `json:"host"`
	// Ratio is model/host of the ops per second, when both sides ran.
	Ratio *Stats `json:"ratio,omitempty"`
	// Scaling is threads-N's or procs-N's median ops per second over
	// threads-1's.
	Scaling *Scaling `json:"scaling,omitempty"`
}

// SideRecord is one side of a Record.
type SideRecord struct {
	OpsPerSec *Stats    `json:"ops_per_sec,omitempty"` // min, median, max over the runs
	Runs      []float64 `json:"runs_ops_per_sec,omitempty"`
	Faults    []uint64  `json:"faults,omitempty"`   // counted per run
	Missing   string    `json:"missing,omitempty"`  // why there are no numbers
	Mismatch  string    `json:"mismatch,omitempty"` // a run did not count one fault per op
}

// Scaling is threads-N or procs-N over threads-1, per side (absent where a side did
// not run).
type Scaling struct {
	Model *float64 `json:"model,omitempty"`
	Host  *float64 `json:"host,omitempty"`
}

// Record returns r as its JSON line; arch, kernel and handler describe
// the run.
func (r Result) Record(arch, kernel, handler string) Record {
	rec := Record{
		Type: "bench", Command: "bench",
		Workload: r.Workload.Name, About: r.Workload.About,
		Arch: arch, Kernel: kernel, Handler: handler,
		Ops: r.Ops, Runs: r.Runs, Threads: r.Workload.Threads,
		Model: sideRecord(r.Model), Host: sideRecord(r.Host),
	}
	if r.Ratio != nil && finite(r.Ratio.Min, r.Ratio.Median, r.Ratio.Max) {
		q := *r.Ratio
		rec.Ratio = &q
	}
	if r.ModelScaling != nil || r.HostScaling != nil {
		rec.Scaling = &Scaling{Model: r.ModelScaling, Host: r.HostScaling}
	}
	return rec
}

func sideRecord(s Side) SideRecord {
	out := SideRecord{Missing: s.Missing, Mismatch: s.Mismatch}
	if s.Ran() {
		st := s.Stats
		out.OpsPerSec = &st
		out.Runs = s.Rates
		out.Faults = s.Faults
	}
	return out
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
