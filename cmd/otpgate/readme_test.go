package main

import (
	"bytes"
	"flag"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
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

// Every relative link of the project's Markdown (README.md,
// CONTRIBUTING.md, BENCHMARKS.md, docs/*.md) leads to a file that exists,
// and every #anchor to a heading (or an HTML id or name) of its page, as
// GitHub makes them: lower case, spaces to '-', punctuation dropped, -1,
// -2, ... for repeated headings.
func TestReadmeAndDocsLinksResolve(t *testing.T) {
	const root = "../.."
	pages := []string{"README.md", "CONTRIBUTING.md", "BENCHMARKS.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		pages = append(pages, filepath.ToSlash(rel))
	}
	anchors := map[string]map[string]bool{} // page (from root) -> its anchors
	anchorsOf := func(page string) map[string]bool {
		if a, ok := anchors[page]; ok {
			return a
		}
		b, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		anchors[page] = markdownAnchors(string(b))
		return anchors[page]
	}
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range markdownLinks(string(b)) {
			target := l.target
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, frag, _ := strings.Cut(target, "#")
			dest := page // a bare #anchor is on the same page
			if file != "" {
				dest = filepath.ToSlash(filepath.Join(filepath.Dir(page), file))
				if strings.HasPrefix(dest, "../") {
					t.Errorf("%s:%d: link %q leads out of the repository", page, l.line, target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
					t.Errorf("%s:%d: link %q: %s does not exist", page, l.line, target, dest)
					continue
				}
			}
			if frag == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s:%d: link %q: an anchor into %s, which is not Markdown", page, l.line, target, dest)
				continue
			}
			if !anchorsOf(dest)[frag] {
				t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", page, l.line, target, dest, frag)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d relative links checked: is the link reader broken?", checked)
	}
}

type mdLink struct {
	target string
	line   int
}

var (
	inlineLink = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]*(?:\([^()\s]*\))?[^()\s]*)(?:\s+"[^"]*")?\)`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	htmlTag    = regexp.MustCompile(`<[^>]+>`)
)

// markdownLines yields the lines of md outside fenced code blocks and HTML
// comments, with their line numbers.
func markdownLines(md string, yield func(line string, n int)) {
	fence := ""
	comment := false
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		if comment {
			if _, after, ok := strings.Cut(line, "-->"); ok {
				comment, line = false, after
			} else {
				continue
			}
		}
		for {
			before, after, ok := strings.Cut(line, "<!--")
			if !ok {
				break
			}
			if _, rest, closed := strings.Cut(after, "-->"); closed {
				line = before + rest
			} else {
				line, comment = before, true
				break
			}
		}
		yield(line, i+1)
	}
}

// markdownLinks returns the targets of md's inline links and images,
// outside code.
func markdownLinks(md string) []mdLink {
	var links []mdLink
	markdownLines(md, func(line string, n int) {
		line = codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{target: m[1], line: n})
		}
	})
	return links
}

// markdownAnchors returns the anchors GitHub gives md's headings, and the
// ids and names of its HTML anchors.
func markdownAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	markdownLines(md, func(line string, _ int) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		if !strings.HasPrefix(line, "#") {
			return
		}
		text := strings.TrimLeft(line, "#")
		if len(text) == len(line) || len(line)-len(text) > 6 || (text != "" && text[0] != ' ') {
			return
		}
		slug := githubSlug(text)
		if k := seen[slug]; k > 0 {
			anchors[slug+"-"+itoa(k)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	})
	return anchors
}

// githubSlug is the anchor GitHub gives a heading's text: its rendered
// text (links as their words, no code marks or tags) in lower case, with
// everything but letters, digits, marks, '_', '-' and spaces dropped, and
// each space a '-'.
func githubSlug(heading string) string {
	text := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(heading), "#"))
	text = inlineLink.ReplaceAllStringFunc(text, func(l string) string {
		words, _, _ := strings.Cut(strings.TrimPrefix(l, "!"), "](")
		return strings.TrimPrefix(words, "[")
	})
	text = htmlTag.ReplaceAllString(text, "")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestGithubSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Code texts (Arabic and English)":                           "code-texts-arabic-and-english",
		"`POST /2fa/send`":                                          "post-2fasend",
		"Routes and sender IDs: `--config FILE`":                    "routes-and-sender-ids---config-file",
		"The abuse guard's cost (run of 19:31 UTC, commit 7e9697c)": "the-abuse-guards-cost-run-of-1931-utc-commit-7e9697c",
		"The SMSC simulator: `otpgate smsc-sim`":                    "the-smsc-simulator-otpgate-smsc-sim",
		"Verify v2 (Twilio compatible) ##":                          "verify-v2-twilio-compatible",
		"[Linked](x.md) words":                                      "linked-words",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
	a := markdownAnchors("# A\n\n```\n# not a heading\n```\n## A\n<a id=\"error-20404\"></a>\n#hashtag\n")
	for _, want := range []string{"a", "a-1", "error-20404"} {
		if !a[want] {
			t.Errorf("markdownAnchors: no %q in %v", want, a)
		}
	}
	if a["not-a-heading"] || a["hashtag"] {
		t.Errorf("markdownAnchors: code or a hashtag taken for a heading: %v", a)
	}
}

// docs/architecture.md draws the layout from the code: it names every
// package directory under internal/ and cmd/ on a line of its own, in a
// layer ("## Layer N"); every package it names exists; and every package
// imports only packages of earlier layers (no circle, no upward arrow).
func TestArchitectureNamesEveryPackage(t *testing.T) {
	const root = "../.."
	const page = "docs/architecture.md"
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := ""
	for line := range strings.SplitSeq(string(gomod), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			module = strings.TrimSpace(m)
		}
	}
	if module == "" {
		t.Fatal("go.mod names no module")
	}

	// The packages, with the otpgate packages each imports (test files aside).
	imports := map[string][]string{}
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(name, ".go") {
				return nil
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			pkg := filepath.ToSlash(rel)
			if _, ok := imports[pkg]; !ok {
				imports[pkg] = nil
			}
			if strings.HasSuffix(name, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if dep, ok := strings.CutPrefix(p, module+"/"); ok && !slices.Contains(imports[pkg], dep) {
					imports[pkg] = append(imports[pkg], dep)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(imports) < 30 {
		t.Fatalf("only %d packages found under internal/ and cmd/: is the walk broken?", len(imports))
	}

	// The page's layers and the packages it names.
	b, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	layerHeading := regexp.MustCompile(`^## Layer (\d+)\b`)
	entry := regexp.MustCompile("^- `((?:internal|cmd)/[a-z0-9_/]+)`")
	named := regexp.MustCompile("`((?:internal|cmd)/[a-z0-9_/]+)`")
	layer := map[string]int{}
	current := -1
	markdownLines(string(b), func(line string, n int) {
		if m := layerHeading.FindStringSubmatch(line); m != nil {
			current, _ = strconv.Atoi(m[1])
			return
		}
		if strings.HasPrefix(line, "## ") {
			current = -1
		}
		if m := entry.FindStringSubmatch(line); m != nil {
			switch _, seen := layer[m[1]]; {
			case current < 0:
				t.Errorf("%s:%d: %s is listed outside a \"## Layer N\" section", page, n, m[1])
			case seen:
				t.Errorf("%s:%d: %s is listed twice", page, n, m[1])
			default:
				layer[m[1]] = current
			}
		}
		for _, m := range named.FindAllStringSubmatch(line, -1) {
			if _, ok := imports[m[1]]; !ok {
				t.Errorf("%s:%d: names %s, which is not a package of this repository", page, n, m[1])
			}
		}
	})
	for _, pkg := range slices.Sorted(maps.Keys(imports)) {
		l, ok := layer[pkg]
		if !ok {
			t.Errorf("%s has no line for %s: add one, in the layer after the last of its imports", page, pkg)
			continue
		}
		for _, dep := range imports[pkg] {
			if dl, ok := layer[dep]; ok && dl >= l {
				t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only earlier layers; move one of them in %s", pkg, l, dep, dl, page)
			}
		}
	}
}

// Every metric family otpgate registers is in docs/operations.md's table:
// a family added without its line fails here, naming it.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`Name:\s+"(otpgate_[a-z_]+)"`)
	found := 0
	err = filepath.WalkDir("../../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range name.FindAllSubmatch(src, -1) {
			found++
			if !bytes.Contains(doc, []byte("`"+string(m[1])+"`")) {
				t.Errorf("%s registers %s, which docs/operations.md's metrics table does not name", path, m[1])
			}
		}
		return nil
	})
	if err != nil || found < 10 {
		t.Fatalf("found %d metric families (%v): the pattern no longer matches how metrics are declared", found, err)
	}
}
