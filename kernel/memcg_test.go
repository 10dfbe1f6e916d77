package kernel_test

import (
	"strconv"
	"testing"

	"github.com/faultline/faultline/kernel"
)

// TestPageCacheChargedToWriter: the file statement's write(2) charges the
// page cache to the writer's memory cgroup, a root writer's to nobody;
// kread's and kwrite's own files are charged while the call runs and
// uncharged when they are deleted after it; a read fault charges the page
// it reads to the faulting task's group.
func TestPageCacheChargedToWriter(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, root, c *kernel.Task)
		want int64 // pages charged to C's group after run
	}{
		{"root writes", func(t *testing.T, root, c *kernel.Task) {
			wantOK(t, "file", root.CreateFile("F", 8*pg, 1))
		}, 0},
		{"group writes", func(t *testing.T, root, c *kernel.Task) {
			wantOK(t, "file", c.CreateFile("F", 8*pg, 1))
		}, 8},
		{"group rewrites", func(t *testing.T, root, c *kernel.Task) {
			wantOK(t, "file", c.CreateFile("F", 8*pg, 1))
			wantOK(t, "file", c.CreateFile("F", 3*pg, 2))
		}, 3},
		{"group truncates", func(t *testing.T, root, c *kernel.Task) {
			wantOK(t, "file", c.CreateFile("F", 8*pg, 1))
			wantOK(t, "truncate", c.Truncate("F", 2*pg))
			wantOK(t, "truncate", c.Truncate("F", 16*pg)) // extending adds no page
		}, 2},
		{"root writes, group reads", func(t *testing.T, root, c *kernel.Task) {
			wantOK(t, "file", root.CreateFile("F", 8*pg, 1))
			wantOK(t, "evict", root.Evict("F"))
			a := mmap(t, c, kernel.MmapArgs{Length: 8 * pg, Prot: ro, Shared: true, File: "F"})
			wantRead(t, c, a, 1)
			wantOK(t, "munmap", c.Munmap(a, 8*pg))
		}, 8}, // read-around cached the whole file for the group
		{"group kwrite", func(t *testing.T, root, c *kernel.Task) {
			a := mmap(t, c, kernel.MmapArgs{Length: 8 * pg, Prot: ro})
			if out := c.KWrite(a, 8*pg); out.Kind != kernel.OutOK || out.Value != 8*pg {
				t.Fatalf("kwrite = %v", out)
			}
		}, 0},
		{"group kread", func(t *testing.T, root, c *kernel.Task) {
			a := mmap(t, c, kernel.MmapArgs{Length: 8 * pg, Prot: rw})
			if out := c.KRead(a, 8*pg, 7); out.Kind != kernel.OutOK || out.Value != 8*pg {
				t.Fatalf("kread = %v", out)
			}
			wantRead(t, c, a+5*pg, 7)
		}, 8}, // the anonymous pages it filled; its file is charged to nobody
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, root := machine(t)
			c, out := root.Fork("c")
			wantOK(t, "fork", out)
			wantOK(t, "memlimit", c.Memlimit(64<<20))
			tc.run(t, root, c)
			if usage, _ := c.MemCG().Usage(); usage != tc.want {
				t.Errorf("group charged %d pages, want %d", usage, tc.want)
			}
			for _, name := range []string{".kio-" + strconv.Itoa(c.TID), ".kio-" + strconv.Itoa(root.TID)} {
				if k.File(name) != nil {
					t.Errorf("%s is left behind", name)
				}
			}
		})
	}
}

// TestMemCGFollowsProcess: every task of a process reads its process's
// memory cgroup from its own copy: threads made before the process moved
// group, threads made after, and a child forked after, which inherits
// it; a process that never moved stays in the root. Each task's faults
// are charged there.
func TestMemCGFollowsProcess(t *testing.T) {
	k, a := machine(t)
	other := k.Spawn("other")
	before, out := a.Clone("before")
	wantOK(t, "clone", out)
	wantOK(t, "memlimit", a.Memlimit(64*pg))
	cg := a.MemCG()
	if cg == nil {
		t.Fatal("after memlimit, the task is in the root group")
	}
	after, out := a.Clone("after")
	wantOK(t, "clone", out)
	child, out := before.Fork("child")
	wantOK(t, "fork", out)
	for _, task := range []*kernel.Task{a, before, after, child} {
		if task.MemCG() != cg {
			t.Errorf("task %s reads group %p, want the process's %p", task.Name, task.MemCG(), cg)
		}
	}
	if other.MemCG() != nil {
		t.Errorf("a process that never moved reads group %p, want the root", other.MemCG())
	}
	base := mmap(t, after, kernel.MmapArgs{Length: 4 * pg, Prot: rw})
	for i, task := range []*kernel.Task{a, before, after} {
		wantOK(t, "write", task.Write(base+uint64(i)*pg, 1))
	}
	if usage, _ := cg.Usage(); usage != 3 {
		t.Errorf("the group holds %d pages after 3 write faults, want 3", usage)
	}
}
