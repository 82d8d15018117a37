package readmetest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's Layout table matches the folders (issue 11, "Done means"):
// every top-level folder holding Go code is a room of the table, every room
// the table names exists, and every package under node/ (the daemon's
// rooms: keystore, memnet, p2p, …) is named in it.
func TestLayoutTableMatchesFolders(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rooms, text := layoutTable(string(raw))
	if len(rooms) == 0 {
		t.Fatal("README.md has no Layout table")
	}
	root := filepath.Join("..", "..")
	for _, r := range rooms {
		if st, err := os.Stat(filepath.Join(root, r)); err != nil || !st.IsDir() {
			t.Errorf("the Layout table names %s/, which is no folder", r)
		}
	}
	for _, dir := range goDirs(t, root) {
		top, _, _ := strings.Cut(dir, "/")
		if !slices.Contains(rooms, top) && !slices.ContainsFunc(rooms, func(r string) bool { return strings.HasPrefix(dir, r) }) {
			t.Errorf("%s holds Go code but the Layout table has no room %s/", dir, top)
		}
		if top == "node" && dir != "node" && !strings.Contains(text, "`"+dir+"`") {
			t.Errorf("the Layout table does not name %s", dir)
		}
	}
}

// The check sees a missing room, a room that is no folder and an unnamed
// node/ package.
func TestLayoutTableParse(t *testing.T) {
	md := "# x\n\n## Layout\n\n| room | what |\n|---|---|\n| `tss/` | a |\n| `node/` | b; `node/p2p`: c |\n\n## Next\n| `nope/` | d |\n"
	rooms, text := layoutTable(md)
	if !slices.Equal(rooms, []string{"tss", "node"}) || !strings.Contains(text, "`node/p2p`") || strings.Contains(text, "nope") {
		t.Fatalf("rooms %v, text %q", rooms, text)
	}
}

var roomCell = regexp.MustCompile("^\\| `([a-z0-9_/]+)/` \\|")

// layoutTable returns the rooms (first column, without the trailing
// slash) of the README's "## Layout" table and the table's text.
func layoutTable(md string) (rooms []string, text string) {
	_, rest, ok := strings.Cut(md, "\n## Layout\n")
	if !ok {
		return nil, ""
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	for _, line := range strings.Split(rest, "\n") {
		if m := roomCell.FindStringSubmatch(line); m != nil {
			rooms = append(rooms, m[1])
		}
	}
	return rooms, rest
}

// goDirs lists the module's folders holding non-test Go files, relative
// to root, skipping testdata and hidden folders.
func goDirs(t *testing.T, root string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil || dir == "." {
			return err
		}
		if dir = filepath.ToSlash(dir); !seen[dir] {
			seen[dir] = true
			out = append(out, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
