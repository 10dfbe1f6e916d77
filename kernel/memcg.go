package kernel

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/phys"
)

// MemCG returns the task's memory cgroup, nil for the root (memory.Faulter).
// It is the task's own copy of its process's group (the css_set a task
// points to), so that a fault reads it without the siglock.
func (t *Task) MemCG() *phys.MemCG { return t.memcg.Load() }

// PageCache returns the task's cache of free page frames (memory.Faulter):
// the task is the model's CPU, and this its per-CPU page list.
func (t *Task) PageCache() *phys.Cache { return t.pcp }

// newTask makes a task of p (the caller adds it to p.threads). It starts
// in p's memory cgroup, with a page cache of its own.
// Preconditions: p.mu, unless p is not yet visible to anyone else.
func (k *Kernel) newTask(p *Process, tid int, name string) *Task {
	t := &Task{k: k, proc: p, TID: tid, Name: name, track: k.tracer.Track(name), pcp: k.phys.NewCache()}
	t.memcg.Store(p.memcg)
	return t
}

// setMemCGLocked moves p into cg: the process's group and each of its
// tasks' copies (cgroup_migrate). Preconditions: p.mu.
func (p *Process) setMemCGLocked(cg *phys.MemCG) {
	p.memcg = cg
	for _, t := range p.threads {
		t.memcg.Store(cg)
	}
}

// Memlimit limits the memory of the task's process: the process joins the
// run's memory cgroup, whose limit becomes size (memory.max, or v1's
// memory.limit_in_bytes). What the process already has stays charged where
// it was; its later allocations, and its children's, are charged here. A
// limit below what the group holds first reclaims; when reclaim can free
// no more, it fails with EBUSY and the old limit stays, as cgroup v1's
// mem_cgroup_resize_max does (the host's hierarchy here).
func (t *Task) Memlimit(size uint64) Outcome {
	return t.call(func() Outcome {
		k := t.k
		k.mu.Lock()
		cg := k.memcg
		if cg == nil {
			cg = &phys.MemCG{}
			cg.Reclaim = func(n int64) int64 { return k.reclaim(cg, n) }
			cg.OOM = func() bool { return k.oomKill(cg) }
			k.memcg = cg
		}
		k.mu.Unlock()
		for !cg.SetLimit(int64(size / k.phys.PageSize())) {
			if t.FatalSignalPending() {
				return Err(abi.EINTR)
			}
			if k.reclaim(cg, 1) == 0 {
				return Err(abi.EBUSY)
			}
		}
		t.proc.mu.Lock()
		t.proc.setMemCGLocked(cg)
		t.proc.mu.Unlock()
		return OK()
	})
}

// reclaimBatch is the least reclaim frees at a time (SWAP_CLUSTER_MAX).
const reclaimBatch = 32

// reclaim frees pages charged to cg (try_to_free_mem_cgroup_pages), at
// least a batch of them: page-cache pages first, then, when there is swap
// space, anonymous pages, which are written out. It reports how many it
// freed.
func (k *Kernel) reclaim(cg *phys.MemCG, n int64) int64 {
	n = max(n, reclaimBatch)
	k.mu.Lock()
	files := make([]*memory.File, 0, len(k.files))
	for _, f := range k.files {
		files = append(files, f)
	}
	k.mu.Unlock()
	freed := memory.ReclaimFiles(files, cg, n)
	if freed < n {
		freed += k.swapOut(cg, n-freed)
	}
	return freed
}

// oomKill is the memory cgroup's OOM killer (mem_cgroup_out_of_memory):
// the process of the group that maps the most memory is sent SIGKILL. It
// reports whether there was a victim, or one already dying.
func (k *Kernel) oomKill(cg *phys.MemCG) bool {
	k.mu.Lock()
	procs := append([]*Process(nil), k.procs...)
	k.mu.Unlock()
	var victim *Process
	best := int64(-1)
	for _, p := range procs {
		p.mu.Lock()
		member, live, dying := p.memcg == cg, p.live > 0, p.exit != 0
		p.mu.Unlock()
		if !member || !live {
			continue
		}
		if dying {
			return true // a victim is on its way out: wait for it
		}
		// On a tie the later process wins, as oom_evaluate_task replaces
		// its choice unless the new one scores lower.
		if rss := p.mm.RSS(); rss >= best {
			victim, best = p, rss
		}
	}
	if victim == nil {
		return false
	}
	if t := victim.anyLive(); t != nil {
		t.SendSignal(abi.SIGKILL)
	}
	return true
}
