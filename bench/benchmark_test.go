package bench

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
)

// benchOps is the faults of one iteration: as many as a run of faultline
// bench makes, so that the ratios are the command's (a run of one chunk
// on a fresh machine would measure mostly the Go heap's first growth).
const benchOps = DefaultOps

// BenchmarkModelVsHost runs each workload on the model and on the host
// kernel in turn, benchOps faults each per iteration, and reports
// both rates and their ratio (model/host), measured in the same run. The
// host side needs Linux and a C compiler; without them only the model's
// rate is reported. ns/op is an iteration's wall time, setup included.
func BenchmarkModelVsHost(b *testing.B) {
	m := Model{Arch: HostArch(), Handler: machine.Generic, Config: config.Default()}
	if err := m.Check(); err != nil {
		b.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	h, herr := StartHost(ctx)
	cancel()
	if herr != nil {
		b.Logf("host side not run: %v", herr)
	} else {
		defer h.Close()
	}
	for _, w := range Workloads(2) {
		b.Run(w.Name, func(b *testing.B) {
			var model, host Sample
			hostOK := h != nil
			b.ResetTimer()
			for b.Loop() {
				s, err := m.Run(w, benchOps)
				if err != nil {
					b.Fatal(err)
				}
				model.Ops += s.Ops
				model.Elapsed += s.Elapsed
				if !hostOK {
					continue
				}
				s, err = h.Run(w, benchOps)
				if err != nil {
					b.Logf("host: %v", err)
					hostOK = false
					continue
				}
				host.Ops += s.Ops
				host.Elapsed += s.Elapsed
			}
			b.StopTimer()
			b.ReportMetric(model.Rate(), "model-faults/s")
			if hostOK && host.Rate() > 0 {
				b.ReportMetric(host.Rate(), "host-faults/s")
				b.ReportMetric(model.Rate()/host.Rate(), "model/host")
			}
		})
	}
}

// BenchmarkModelScaling measures, on the model, threads-2 and procs-2
// against threads-1 with the same faults, in the same run, and reports
// the ratios (the goal: 2 goroutines faulting separate VMAs of
// one process, or separate processes of one kernel, at ≥ 1.9× one).
func BenchmarkModelScaling(b *testing.B) {
	m := Model{Arch: machine.Arches()[0], Handler: machine.Generic, Config: config.Default()}
	ws := Workloads(2)
	one, two, procs := ws[4], ws[5], ws[6]
	var s1, s2, sp Sample
	for b.Loop() {
		for _, x := range []struct {
			w   Workload
			acc *Sample
		}{{one, &s1}, {two, &s2}, {procs, &sp}} {
			s, err := m.Run(x.w, benchOps)
			if err != nil {
				b.Fatal(err)
			}
			x.acc.Ops += s.Ops
			x.acc.Elapsed += s.Elapsed
		}
	}
	b.ReportMetric(s1.Rate(), "threads-1-faults/s")
	b.ReportMetric(s2.Rate()/s1.Rate(), "threads-2/threads-1")
	b.ReportMetric(sp.Rate()/s1.Rate(), "procs-2/threads-1")
}
