package guest

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/faultline/faultline/config"
)

// ReadKconfig reads a kernel .config into option → value ("y", "m", a
// number, a string; "n" for "is not set").
func ReadKconfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			m[k] = strings.Trim(v, `"`)
		} else if o, ok := strings.CutPrefix(l, "# "); ok && strings.HasSuffix(o, " is not set") {
			m[strings.TrimSuffix(o, " is not set")] = "n"
		}
	}
	return m, sc.Err()
}

// ModelConfig is the model's configuration for a guest: what the guest
// detected (info.Config), then what only the kernel's shipped config
// says where the guest could not read it (Debian kernels have no
// /proc/config.gz): CONFIG_MEMORY_FAILURE, and CONFIG_LSM_MMAP_MIN_ADDR
// raising mmap_min_addr (update_mmap_min_addr). notes says what changed.
func ModelConfig(info *HostInfo, kconfig map[string]string) (cfg config.Kernel, notes []string) {
	cfg = config.Default()
	for k, v := range info.Config {
		if err := cfg.Set(k, v); err != nil {
			notes = append(notes, "guest config: "+err.Error())
		}
	}
	if mf, ok := kconfig["CONFIG_MEMORY_FAILURE"]; ok {
		v := "n"
		if mf == "y" {
			v = "y"
		}
		if old, _ := cfg.Get("memory_failure"); old != v {
			cfg.Set("memory_failure", v)
			notes = append(notes, "memory_failure="+v+" from the kernel's config (CONFIG_MEMORY_FAILURE)")
		}
	}
	if kconfig["CONFIG_SECURITY"] == "y" {
		lsm, err1 := strconv.ParseUint(kconfig["CONFIG_LSM_MMAP_MIN_ADDR"], 10, 64)
		cur, _ := cfg.Get("mmap_min_addr")
		dac, err2 := config.ParseNumber(cur)
		if err1 == nil && err2 == nil && lsm > dac {
			cfg.Set("mmap_min_addr", strconv.FormatUint(lsm, 10))
			notes = append(notes, "mmap_min_addr="+strconv.FormatUint(lsm, 10)+" from the kernel's config (CONFIG_LSM_MMAP_MIN_ADDR)")
		}
	}
	return cfg, notes
}
