package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
)

// version and commit are set at release with
// -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)"
// (scripts/release.sh). Without them, the commit comes from the VCS
// information Go records in every build made inside a git checkout, and the
// version from the module's when installed with go install module@version.
var (
	version = "dev"
	commit  = ""
)

// pseudoVersion matches the timestamp and commit of a Go pseudo-version
// (v0.0.0-20261130211938-5d76a6b605b5).
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)

// BuildInfo says which otpgate this is.
type BuildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`      // the git commit ("" when the build recorded none)
	CommitTime string `json:"commit_time,omitempty"` // RFC 3339, UTC
	Modified   bool   `json:"modified"`              // built from a tree with uncommitted changes
	GoVersion  string `json:"go"`
	Platform   string `json:"platform"` // os/arch
}

// buildInfo reads what the build recorded; -X values win.
func buildInfo() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	// go install module@v1.2.0, or a build on a tagged commit, records the
	// tag; a build elsewhere records a pseudo-version, which says no more
	// than the commit below.
	if v := bi.Main.Version; b.Version == "dev" && v != "" && v != "(devel)" && !pseudoVersion.MatchString(v) {
		b.Version = v
	}
	var vcsRev string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			vcsRev = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	if b.Commit == "" {
		b.Commit = vcsRev
	} else if vcsRev != "" && vcsRev != b.Commit {
		// -X named another commit than the tree it was built from: the
		// tree's time and state say nothing about that commit.
		b.CommitTime, b.Modified = "", false
	}
	return b
}

// String is the one line `otpgate version` prints.
func (b BuildInfo) String() string {
	s := "otpgate " + b.Version
	switch {
	case b.Commit == "":
		s += ", commit unknown (built outside a git checkout, without -X main.commit)"
	default:
		s += ", commit " + b.Commit
		if b.CommitTime != "" {
			s += " (" + b.CommitTime + ")"
		}
		if b.Modified {
			s += " with uncommitted changes"
		}
	}
	return s + ", " + b.GoVersion + " " + b.Platform
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print it as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate version [--json]\n\nPrints the version, the git commit the binary was built from (and whether the\ntree had uncommitted changes), the Go version and the platform.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	b := buildInfo()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	_, err := fmt.Fprintln(stdout, b)
	return err
}
