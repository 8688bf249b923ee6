package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// The README's table of serve's flags names every flag serve has (the
// full reference, docs/config.md, is generated; the README's is written by
// hand and would drift).
func TestReadmeNamesEveryServeFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c ServeConfig
	c.flags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(string(readme), "`--"+f.Name+"`") {
			t.Errorf("README.md does not name --%s (add it to the table under Commands and flags)", f.Name)
		}
	})
	if n < 30 {
		t.Fatalf("only %d flags seen", n)
	}
}
