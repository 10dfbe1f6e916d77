package runner

import (
	"testing"

	"github.com/faultline/faultline/machine"
)

// TestOOMTieKillsTheLater: between two processes of a memory cgroup that
// map exactly as much, the OOM killer takes the later one
// (oom_evaluate_task replaces its choice unless the new one scores
// lower), so the parent whose fault failed survives its equally large
// child. Model only: a real kernel's RSS counts are per-CPU and
// approximate, so no scenario can set up an exact tie there (the corpus
// had one; a guest once killed the other process).
func TestOOMTieKillsTheLater(t *testing.T) {
	s := parse(t, `scenario tie
needs memcg
fork C
C: memlimit 24M
C: mmap A 16M rw private anon
C: fork D
D: mmap B 12M rw private anon
D: touch B 12M write => ok
C: touch A 16M write => ok
D: read B => killed SIGKILL
C: read A => ok 0x41
`)
	for _, arch := range machine.Arches() {
		for _, h := range machine.Handlers() {
			if rep := Run(s, arch, Options{Handler: h}); rep.Status != Pass {
				t.Errorf("%s %v: %v (%s), failures %+v", arch, h, rep.Status, rep.Reason, rep.Failures)
			}
		}
	}
}
