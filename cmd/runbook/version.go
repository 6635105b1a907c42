package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version and commit may be set at build time, as scripts/release does:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/runbook
//
// Otherwise they come from the build info Go records: the module version
// (go install …@v1.2.3) and the VCS commit of the tree that was built.
var (
	version = "dev"
	commit  = ""
)

// buildVersion is what `runbook version` reports.
type buildVersion struct {
	Version, Commit, Time string
	Modified              bool // built from a tree with uncommitted changes
}

func init() {
	info, ok := debug.ReadBuildInfo()
	v := readVersion(version, commit, info, ok)
	version, commit = v.Version, v.Commit
}

// readVersion prefers the -ldflags values and fills the rest from the
// build info.
func readVersion(ldVersion, ldCommit string, info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: ldVersion, Commit: ldCommit}
	if !ok || info == nil {
		return v
	}
	if (v.Version == "" || v.Version == "dev") && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if v.Commit == "" {
				v.Commit = s.Value
			}
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

func (v buildVersion) String() string {
	var b strings.Builder
	b.WriteString("runbook " + v.Version)
	if v.Commit != "" {
		b.WriteString(" commit " + v.Commit)
	} else {
		b.WriteString(" (no commit recorded)")
	}
	var notes []string
	if v.Time != "" {
		notes = append(notes, v.Time)
	}
	if v.Modified {
		notes = append(notes, "modified")
	}
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, ", ") + ")")
	}
	fmt.Fprintf(&b, " %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this binary",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info, ok := debug.ReadBuildInfo()
			fmt.Fprintln(cmd.OutOrStdout(), readVersion(version, commit, info, ok))
		},
	}
}
