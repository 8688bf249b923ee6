package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// flagsPage holds the hand-written table of serve's flags, under the
// heading flagsHeading. The full reference, docs/config.md, is generated;
// this table is written by hand and would drift.
const (
	flagsPage    = "../../docs/commands.md"
	flagsHeading = "## `otpgate serve`"
)

// The table of serve's flags in docs/commands.md names every flag serve has.
func TestDocsNameEveryServeFlag(t *testing.T) {
	b, err := os.ReadFile(flagsPage)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	i := strings.Index(page, "\n"+flagsHeading+"\n")
	if i < 0 {
		t.Fatalf("%s has no heading %q: the flags table lives under it", flagsPage, flagsHeading)
	}
	section := page[i+1+len(flagsHeading):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c ServeConfig
	c.flags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(section, "`--"+f.Name+"`") {
			t.Errorf("docs/commands.md does not name --%s (add it to the table under %s)", f.Name, flagsHeading)
		}
	})
	if n < 30 {
		t.Fatalf("only %d flags seen", n)
	}
}
