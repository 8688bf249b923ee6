package main

//go:generate go test -run TestConfigReference -update

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/smpp"
)

// configRefPath is the reference, from this package's folder.
const configRefPath = "../../docs/config.md"

// docs/config.md is generated from the code: serve's flags (their help
// text and defaults), the --config file's structs (their fields' comments)
// and the SMPP URL's parameters (the cases of smpp.ParseURL and the
// comments of smpp.Config's fields, defaults from parsing a bare URL). It
// fails when the committed file differs from what the code says now, or
// when a setting has no words; -update (go generate ./cmd/otpgate)
// rewrites it.
func TestConfigReference(t *testing.T) {
	got := configReference(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(configRefPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(configRefPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(configRefPath)
	if err != nil {
		t.Fatalf("%v: generate it with go generate ./cmd/otpgate", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/config.md is out of date; run go generate ./cmd/otpgate (or go test ./cmd/otpgate -run TestConfigReference -update).\nFirst difference, line %d:\n  committed: %s\n  the code:  %s", i+1, w, g)
			}
		}
	}
}

func configReference(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`# otpgate configuration reference

<!-- Generated from the code by go generate ./cmd/otpgate; TestConfigReference fails when it is out of date. Do not edit. -->

` + "`otpgate serve`" + ` is configured with flags, each also an environment variable (a flag on the
command line wins over its variable, which wins over the default), and with a JSON file given by
` + "`--config`" + ` (connectors, routes, inbound addresses, countries). ` + "`otpgate doctor`" + ` takes the same
flags and environment and checks them, binding each connector.

Secrets stay out of the command line: an SMPP or PostgreSQL password written ` + "`$NAME`" + ` is read
from the environment variable ` + "`NAME`" + ` (under systemd, from the unit's ` + "`EnvironmentFile`" + `); one that is
not set, or is empty, stops otpgate at start, naming it.

- [Flags of otpgate serve](#flags-of-otpgate-serve)
- [The --config file](#the---config-file)
- [SMPP connector URLs](#smpp-connector-urls)

## Flags of otpgate serve

| flag | environment variable | default | meaning |
|---|---|---|---|
`)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg ServeConfig
	cfg.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if strings.TrimSpace(f.Usage) == "" {
			t.Errorf("serve flag --%s has no help text", f.Name)
		}
		def := "(none)"
		if f.DefValue != "" {
			def = "`" + f.DefValue + "`"
		}
		usage := f.Usage
		if i := strings.LastIndex(usage, " (default "); i >= 0 && strings.HasSuffix(usage, ")") && def == "(none)" {
			def = "`" + strings.TrimSuffix(usage[i+len(" (default "):], ")") + "`"
			usage = usage[:i]
		}
		fmt.Fprintf(&b, "| `--%s` | `OTPGATE_%s` | %s | %s |\n", f.Name, envName(f.Name), def, cell(usage))
	})

	b.WriteString(`
## The --config file

A JSON object; unknown fields are refused, so a misspelt setting is an error at start, not a
setting silently ignored. The example for Jordan's three operators is
[examples/jordan.json](../examples/jordan.json).

`)
	docs := structDocs(t)
	seen := map[reflect.Type]bool{}
	var walk func(title string, typ reflect.Type)
	walk = func(title string, typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		fmt.Fprintf(&b, "### %s\n\n| field | type | meaning |\n|---|---|---|\n", title)
		var nested []reflect.StructField
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			doc := docs[typ.Name()+"."+f.Name]
			if doc == "" {
				t.Errorf("%s.%s (%q in --config) has no comment: write one, it is the reference", typ, f.Name, name)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, jsonType(f.Type), cell(doc))
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				nested = append(nested, f)
			}
		}
		b.WriteString("\n")
		for _, f := range nested {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			walk("Each of `"+name+"`", f.Type.Elem())
		}
	}
	walk("Top level", reflect.TypeFor[FileConfig]())

	b.WriteString(`## SMPP connector URLs

A connector, in ` + "`--smpp`" + ` (repeatable) or a ` + "`connectors`" + ` entry of the file, is
` + "`smpp://SYSTEM_ID:PASSWORD@HOST:PORT?PARAMETER=VALUE&...`" + `. The password is at most 8 characters
(SMPP 3.4); written ` + "`$NAME`" + ` it is read from the environment variable ` + "`NAME`" + `. Unknown parameters
are refused. Durations are Go durations (` + "`30s`, `1m`" + `).

| parameter | default | meaning |
|---|---|---|
`)
	for _, p := range urlParams(t) {
		doc := docs["Config."+p.field]
		if doc == "" {
			doc = smppDocExtra[p.field]
		}
		if doc == "" {
			t.Errorf("smpp.Config.%s (URL parameter %q) has no comment", p.field, p.param)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p.param, p.def, cell(doc))
	}
	return b.Bytes()
}

// smppDocExtra words the smpp.Config fields that have no comment of their own.
var smppDocExtra = map[string]string{
	"EnquireLink": "how often to send enquire_link when the link is idle (keep-alive)",
	"SystemType":  "the bind's system_type, when the SMSC asks for one",
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "list of objects (below)"
		}
		return "list of " + jsonType(t.Elem()) + "s"
	}
	return t.String()
}

// sourceDirs are the folders whose types the reference describes.
var sourceDirs = []string{".", "../../internal/routing", "../../internal/smpp"}

// structDocs maps "Type.Field" to the field's comment, from the source.
func structDocs(t *testing.T) map[string]string {
	t.Helper()
	docs := map[string]string{}
	for _, dir := range sourceDirs {
		for _, f := range parseDir(t, dir) {
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return true
				}
				for _, fld := range st.Fields.List {
					text := ""
					if fld.Doc != nil {
						text = fld.Doc.Text()
					}
					if fld.Comment != nil {
						text += " " + fld.Comment.Text()
					}
					for _, name := range fld.Names {
						docs[ts.Name.Name+"."+name.Name] = strings.Join(strings.Fields(text), " ")
					}
				}
				return false
			})
		}
	}
	return docs
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

type urlParam struct{ param, field, def string }

// urlParams reads smpp.ParseURL's switch: each case names a parameter and
// sets a field of the Config. Defaults come from parsing a bare URL.
func urlParams(t *testing.T) []urlParam {
	t.Helper()
	bare, err := smpp.ParseURL("smpp://id:pw@smsc.example:2775", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := reflect.ValueOf(bare)
	var out []urlParam
	for _, f := range parseDir(t, "../../internal/smpp") {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "ParseURL" {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				cc, ok := n.(*ast.CaseClause)
				if !ok || len(cc.List) != 1 {
					return true
				}
				lit, ok := cc.List[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				param, _ := strconv.Unquote(lit.Value)
				for _, st := range cc.Body {
					as, ok := st.(*ast.AssignStmt)
					if !ok {
						continue
					}
					sel, ok := as.Lhs[0].(*ast.SelectorExpr)
					if !ok {
						continue
					}
					field := sel.Sel.Name
					out = append(out, urlParam{param, field, defaultWords(param, cfg.FieldByName(field))})
					break
				}
				return false
			})
		}
	}
	if len(out) == 0 {
		t.Fatal("found no parameters in smpp.ParseURL")
	}
	return out
}

func defaultWords(param string, v reflect.Value) string {
	if !v.IsValid() {
		return "?"
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return "`" + x.String() + "`"
	case int:
		if x == -1 && (param == "ton" || param == "npi") {
			return "`auto`"
		}
		return "`" + strconv.Itoa(x) + "`"
	case string:
		switch {
		case param == "name":
			return "the host"
		case x == "":
			return "(empty)"
		}
		return "`" + x + "`"
	}
	return fmt.Sprint(v.Interface())
}
