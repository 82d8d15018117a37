package structure

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module is this module's import path.
const module = "github.com/triad-custody/triad"

// Limits from issue 11's "Done means".
const (
	maxComplexity = 25  // cyclomatic complexity of any non-test function
	maxCmdLines   = 150 // lines of any non-test file in cmd/triad
)

// repoRoot is the module root (two levels above this package).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	return root
}

// sourceFiles lists the module's non-test Go files, tracked or not, skipping
// testdata and hidden directories.
func sourceFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// complexity is the cyclomatic complexity of a function as gocyclo counts it:
// 1 + each if, for, range, non-default case or comm clause, && and ||.
func complexity(fn *ast.FuncDecl) int {
	c := 1
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	var b bytes.Buffer
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		b.WriteString("*")
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		b.WriteString(id.Name)
	}
	return "(" + b.String() + ")." + fn.Name.Name
}

func TestComplexity(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	for _, path := range sourceFiles(t, root) {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if c := complexity(fn); c > maxComplexity {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s:%d %s has cyclomatic complexity %d (limit %d): split it",
					rel, fset.Position(fn.Pos()).Line, funcName(fn), c, maxComplexity)
			}
		}
	}
}

// TestComplexityCounts pins the counter against hand-counted functions, so the
// check above cannot pass by counting nothing.
func TestComplexityCounts(t *testing.T) {
	src := `package p
func a() {}
func b(x int) int { if x > 0 && x < 9 { return 1 }; for i := 0; i < x; i++ {}; return 0 }
func c(x int, ch chan int) { switch x { case 1, 2: ; case 3: ; default: }; select { case <-ch: ; default: }; for range ch {}; _ = x == 1 || x == 2 }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 1, "b": 4, "c": 6}
	for _, d := range f.Decls {
		fn := d.(*ast.FuncDecl)
		if got := complexity(fn); got != want[fn.Name.Name] {
			t.Errorf("complexity(%s) = %d, want %d", fn.Name.Name, got, want[fn.Name.Name])
		}
	}
}

func TestCmdFilesShort(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "cmd", "triad", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files in cmd/triad")
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		n, err := countLines(path)
		if err != nil {
			t.Fatal(err)
		}
		if n > maxCmdLines {
			t.Errorf("cmd/triad/%s has %d lines (limit %d): CLI files parse flags, call one function and print",
				filepath.Base(path), n, maxCmdLines)
		}
	}
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

// node/ is the MPC daemon and imports no custody package (issue 11, item
// 4): `go list -deps ./node/...` names none. Custody's decisions reach it
// through node.Authorizer and StartOptions' functions, wired in package
// daemon.
func TestNodeImportsNoCustody(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./node/...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./node/...: %v", err)
	}
	if bad := custodyDeps(string(out)); len(bad) > 0 {
		t.Errorf("node/ depends on %v", bad)
	}
}

// custodyDeps are the module's custody packages in a `go list` output.
func custodyDeps(list string) []string {
	var bad []string
	for _, dep := range strings.Fields(list) {
		if dep == module+"/custody" || strings.HasPrefix(dep, module+"/custody/") {
			bad = append(bad, dep)
		}
	}
	return bad
}

// The check finds a custody package however deep it sits, and only those.
func TestCustodyDepsFinds(t *testing.T) {
	list := strings.Join([]string{"fmt", module + "/node", module + "/custody", module + "/custody/settle", module + "/custodyx", "example.com/custody"}, "\n")
	got := strings.Join(custodyDeps(list), " ")
	if want := module + "/custody " + module + "/custody/settle"; got != want {
		t.Fatalf("custodyDeps: %q, want %q", got, want)
	}
}
