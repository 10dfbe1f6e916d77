package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/faultline/faultline/host"
)

// CacheEnv names the variable that overrides the cache directory (tests).
const CacheEnv = "FAULTLINE_GUEST_CACHE"

// CacheDir returns the guest cache, $XDG_CACHE_HOME/faultline/guest or
// ~/.cache/faultline/guest (os.UserCacheDir), made 0700 when missing. Root
// boots what is in it, so it must be trusted as host.TrustedDir says: it
// and every directory above it owned by the running user or root and
// writable by neither group nor others.
func CacheDir() (string, error) {
	dir := os.Getenv(CacheEnv)
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("guest: no cache directory: %w", err)
		}
		dir = filepath.Join(c, "faultline", "guest")
	}
	if !filepath.IsAbs(dir) {
		return "", errors.New("guest: the cache directory must be an absolute path: " + dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("guest: cache: %w", err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("guest: cache: %w", err)
	}
	if err := host.TrustedDir(real); err != nil {
		return "", fmt.Errorf("guest: cache %s is not trusted: %w", real, err)
	}
	return real, nil
}
