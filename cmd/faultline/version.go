package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionText says which faultline this is: the module's version and the
// VCS revision it was built from (with "modified" when the work tree had
// changes), the commit time, and the toolchain and platform, from the
// build information the Go linker embeds. A binary built without VCS
// stamping (-buildvcs=false, or outside a repository) says so instead of
// naming a revision.
func versionText(bi *debug.BuildInfo, ok bool) string {
	goVersion, platform := runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
	if !ok || bi == nil {
		return fmt.Sprintf("faultline: no build information (%s %s)", goVersion, platform)
	}
	if bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)" // a test binary or go run: no module version
	}
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	var vcs []string
	if rev := set["vcs.revision"]; rev != "" {
		vcs = append(vcs, "revision "+rev)
		if set["vcs.modified"] == "true" {
			vcs = append(vcs, "modified")
		}
		if t := set["vcs.time"]; t != "" {
			vcs = append(vcs, "committed "+t)
		}
	} else {
		vcs = append(vcs, "no VCS revision: built with -buildvcs=false or outside a repository")
	}
	return fmt.Sprintf("faultline %s (%s) %s %s", version, strings.Join(vcs, ", "), goVersion, platform)
}

// buildVersion is versionText of this binary.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return versionText(bi, ok)
}

// newVersionCmd is "faultline version", which prints what --version does.
func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version and the VCS revision faultline was built from",
		Long: `Print the module version, the VCS revision faultline was built from (and
"modified" when its work tree had uncommitted changes), the time of that
commit, the Go toolchain and the platform, as the build information
embedded in the binary records them. faultline --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(stdout, buildVersion())
			return err
		},
	}
}

// setVersion makes --version print buildVersion. The flag is defined
// here so that cobra does not take -v for it.
func setVersion(root *cobra.Command) {
	root.Version = buildVersion()
	root.Flags().Bool("version", false, "print the module version and the VCS revision faultline was built from")
	root.SetVersionTemplate("{{.Version}}\n")
}
