package api

import (
	"go/ast"
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
)

// The error codes are the constants named Code... with a five-digit value
// (otpgate.CodeNotFound, twilio.CodeInvalidTo, guard.CodeBlocked, ...)
// that the server's code uses: TestErrorsDoc finds them in the source, so
// a new code needs no list kept by hand, only its constant and its section
// of docs/errors.md.

const (
	modulePath = "github.com/otpgate/otpgate"
	moduleRoot = "../.."
	errorsDoc  = moduleRoot + "/docs/errors.md"
)

// codeConst is one error-code constant.
type codeConst struct {
	pkg, name string // the package's import path, and the constant's name
	value     int
	pos       string
}

// errorCodes returns the codes the server can return (the values of the
// constants its code uses), and the constants declared but used nowhere.
// It fails the test where a code is written as a bare number, which the
// scan would not see.
func errorCodes(t *testing.T) (used map[int][]codeConst, unused []codeConst) {
	t.Helper()
	fset := token.NewFileSet()
	var consts []codeConst
	refs := map[[2]string]bool{} // {import path, name} referenced outside its declaration
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != moduleRoot && (n == "testdata" || n == "node_modules" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(moduleRoot, filepath.Dir(path))
		pkg := modulePath + "/" + filepath.ToSlash(rel)
		imports := map[string]string{} // local name -> import path
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			imports[name] = p
		}
		declared := map[*ast.Ident]bool{}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
						continue
					}
					if v, ok := codeLiteral(vs.Values[i]); ok {
						declared[name] = true
						consts = append(consts, codeConst{pkg: pkg, name: name.Name, value: v, pos: fset.Position(name.Pos()).String()})
					}
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && imports[x.Name] != "" {
					refs[[2]string{imports[x.Name], n.Sel.Name}] = true
					return false
				}
			case *ast.Ident:
				if !declared[n] {
					refs[[2]string{pkg, n.Name}] = true
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING && strings.Contains(n.Value, "otpgate#error-") {
					t.Errorf("%s: an old more_info link (otpgate#error-...); errors link to docs/errors.md#CODE", fset.Position(n.Pos()))
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Code" {
					if _, lit := codeLiteral(n.Value); lit {
						t.Errorf("%s: an error code written as a number; name it with a Code... constant, so docs/errors.md's test sees it", fset.Position(n.Pos()))
					}
				}
			case *ast.CallExpr:
				if s, ok := n.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "Errorf" && len(n.Args) > 1 {
					if _, lit := codeLiteral(n.Args[1]); lit {
						t.Errorf("%s: an error code written as a number; name it with a Code... constant, so docs/errors.md's test sees it", fset.Position(n.Pos()))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	used = map[int][]codeConst{}
	for _, c := range consts {
		if refs[[2]string{c.pkg, c.name}] {
			used[c.value] = append(used[c.value], c)
		} else {
			unused = append(unused, c)
		}
	}
	return used, unused
}

// codeLiteral reports whether e is a five-digit integer literal, and its value.
func codeLiteral(e ast.Expr) (int, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.INT {
		return 0, false
	}
	v, err := strconv.Atoi(lit.Value)
	return v, err == nil && v >= 10000 && v <= 99999
}

// docSection is one code's section of docs/errors.md.
type docSection struct {
	code int
	text string
}

var headingRE = regexp.MustCompile(`(?m)^## (.*)$`)

// errorsDocSections reads docs/errors.md: every "## " heading must be a
// code (its anchor, as GitHub renders it, is the code).
func errorsDocSections(t *testing.T) (map[int]docSection, string) {
	t.Helper()
	b, err := os.ReadFile(errorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	out := map[int]docSection{}
	locs := headingRE.FindAllStringSubmatchIndex(doc, -1)
	for i, l := range locs {
		title := doc[l[2]:l[3]]
		code, err := strconv.Atoi(title)
		if err != nil || len(title) != 5 {
			t.Errorf("docs/errors.md: heading %q: every ## heading is a five-digit code (its anchor is the code)", title)
			continue
		}
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if _, dup := out[code]; dup {
			t.Errorf("docs/errors.md: two sections for %d", code)
		}
		out[code] = docSection{code: code, text: doc[l[1]:end]}
	}
	return out, doc
}

// docs/errors.md has a section for every code the server can return, and
// none for a code it does not; more_info links to that section.
func TestErrorsDoc(t *testing.T) {
	used, unused := errorCodes(t)
	for _, c := range unused {
		t.Logf("%s: %s.%s = %d is declared but used nowhere: it is not a code the server returns", c.pos, c.pkg, c.name, c.value)
	}
	// The scan found the codes of the domain and of each dialect.
	for _, want := range []int{20404, 20003, 21211, 21408, 30409, 60200, 60410} {
		if len(used[want]) == 0 {
			t.Fatalf("the scan of the source found no constant for %d: it is broken (found %v)", want, slices.Sorted(maps.Keys(used)))
		}
	}
	sections, doc := errorsDocSections(t)
	for code, cs := range used {
		if _, ok := sections[code]; !ok {
			t.Errorf("docs/errors.md has no section \"## %d\" (the code of %s.%s, %s)", code, cs[0].pkg, cs[0].name, cs[0].pos)
		}
	}
	for code, s := range sections {
		if len(used[code]) == 0 {
			t.Errorf("docs/errors.md has a section for %d, which the server does not return (no Code... constant with it is used)", code)
		}
		for _, field := range []string{"- **HTTP status:** ", "- **Returned by:** ", "- **What it means:** ", "- **The usual fix:** "} {
			if !strings.Contains(s.text, "\n"+field) {
				t.Errorf("docs/errors.md, %d: no %q line", code, strings.TrimSpace(field))
			}
		}
		if got, want := moreInfo(code), ErrorsDoc+"#"+strconv.Itoa(code); got != want {
			t.Errorf("moreInfo(%d) = %s, want %s", code, got, want)
		}
	}
	// Every link within the page goes to a section.
	for _, m := range regexp.MustCompile(`\]\(#([^)]*)\)`).FindAllStringSubmatch(doc, -1) {
		if code, err := strconv.Atoi(m[1]); err != nil || sections[code].text == "" {
			t.Errorf("docs/errors.md links to #%s, which is no section of it", m[1])
		}
	}
}

// The replies pinned by the golden files and the OpenAPI description's
// examples link to a section of docs/errors.md for their code, and that
// section names their HTTP status.
func TestErrorsDocMatchesReplies(t *testing.T) {
	sections, _ := errorsDocSections(t)
	files, err := filepath.Glob(moduleRoot + "/cmd/otpgate/testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden replies in cmd/otpgate/testdata/golden (%v)", err)
	}
	replyRE := regexp.MustCompile(`"code":\s*(\d+),\s*"message":\s*"(?:[^"\\]|\\.)*",\s*"more_info":\s*"([^"]*)",\s*"status":\s*(\d+)`)
	n := 0
	for _, f := range append(files, moduleRoot+"/internal/openapi/openapi.json") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range replyRE.FindAllStringSubmatch(string(b), -1) {
			n++
			code, _ := strconv.Atoi(m[1])
			s, ok := sections[code]
			switch {
			case !ok:
				t.Errorf("%s: code %d has no section in docs/errors.md", f, code)
			case m[2] != moreInfo(code):
				t.Errorf("%s: code %d's more_info is %s, want %s", f, code, m[2], moreInfo(code))
			case !strings.Contains(statusLine(s.text), m[3]):
				t.Errorf("%s: code %d with HTTP status %s: docs/errors.md's section says %q", f, code, m[3], statusLine(s.text))
			}
		}
		if strings.Contains(string(b), "otpgate#error-") {
			t.Errorf("%s: an old more_info link (otpgate#error-...): regenerate it", f)
		}
	}
	if n < 20 {
		t.Fatalf("only %d error replies found in the golden files and openapi.json", n)
	}
}

func statusLine(section string) string {
	_, rest, _ := strings.Cut(section, "- **HTTP status:** ")
	line, _, _ := strings.Cut(rest, "\n- **")
	return line
}
