package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function of cmd/otpgate may be, from its
// func keyword to its closing brace: the command wires, and what wiring
// needs more lines for belongs in the package it wires.
const maxFuncLines = 80

// No function (or function literal) in the package's non-test files is
// longer than maxFuncLines.
func TestNoLongFunctions(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			n++
			ast.Inspect(f, func(node ast.Node) bool {
				var name string
				switch fn := node.(type) {
				case *ast.FuncDecl:
					name = fn.Name.Name
					if fn.Recv != nil && len(fn.Recv.List) == 1 {
						name = recvName(fn.Recv.List[0].Type) + "." + name
					}
				case *ast.FuncLit:
					name = "a function literal"
				default:
					return true
				}
				start, end := fset.Position(node.Pos()), fset.Position(node.End())
				if lines := end.Line - start.Line + 1; lines > maxFuncLines {
					t.Errorf("%s:%d: %s is %d lines long; at most %d", start.Filename, start.Line, name, lines, maxFuncLines)
				}
				return true
			})
		}
	}
	if n == 0 {
		t.Fatal("no Go files parsed")
	}
}

// recvName names a method's receiver type: "Main" for (m *Main).
func recvName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvName(e.X)
	case *ast.Ident:
		return e.Name
	case *ast.IndexExpr:
		return recvName(e.X)
	}
	return "?"
}
