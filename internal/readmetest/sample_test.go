package readmetest

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/triad-custody/triad/daemon"
	"gopkg.in/yaml.v3"
)

// configs/sample.yaml loads, every key it documents is one the config
// loader accepts, and every key the loader accepts is documented there
// (issue 14). The accepted keys come from the config structs' mapstructure
// tags (daemon.ConfigSchemaKeys), not from a list kept by hand. A key is
// documented when it is set, or commented out as a line "# key: value"
// at its own indentation, or named as an alternative "… or key: value"
// in a comment beside a sibling.
func TestSampleConfigDocumentsEveryKey(t *testing.T) {
	const path = "../../configs/sample.yaml"
	if _, err := daemon.LoadConfig(path); err != nil {
		t.Fatalf("configs/sample.yaml does not load: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	schema := daemon.ConfigSchemaKeys()
	documented, err := documentedKeys(string(raw), schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range documented {
		if !slices.Contains(schema, k) {
			t.Errorf("configs/sample.yaml documents %s, which the config loader does not accept", k)
		}
	}
	for _, k := range schema {
		if !slices.Contains(documented, k) {
			t.Errorf("the config loader accepts %s, which configs/sample.yaml does not document", k)
		}
	}
}

// The check can fail both ways: an undocumented key and a documented key
// the loader does not know are both found.
func TestDocumentedKeysFindsBothMistakes(t *testing.T) {
	schema := []string{"api.listen", "api.tls.cert_file", "api.tls.key_file", "hsm.local.passphrase_env", "hsm.local.passphrase_file",
		"peers[].party", "peers[].peer_id", "peers[].peer_id_file", "policy.operators.*[].name"}
	doc := strings.Join([]string{
		"api:",
		"  listen: 127.0.0.1:1   # or listn_typo: x",
		"  tls:",
		"    # cert_file: /a.pem",
		"hsm:",
		"  local:",
		"    passphrase_env: X   # or passphrase_file: /p",
		"peers:",
		"  - party: exchange",
		"    # ... or peer_id_file: f",
		"    peer_id: abc",
		"policy:",
		"  operators:",
		"    custodian: [{name: alice}]",
	}, "\n")
	got, err := documentedKeys(doc, schema)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"api.listen", "api.listn_typo", "api.tls.cert_file", "hsm.local.passphrase_env", "hsm.local.passphrase_file",
		"peers[].party", "peers[].peer_id", "peers[].peer_id_file", "policy.operators.*[].name"}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("documentedKeys:\n got %v\nwant %v", got, want)
	}
}

// entry is one key set in the YAML: where it is and what its children are
// called (a list's records "key[]", a map of data "key.*").
type entry struct {
	line, col    int
	path, parent string
	children     string
	leaf         bool // a value, not a section or a list of records
}

var (
	commentedKey   = regexp.MustCompile(`^# ([a-z][a-z0-9_]*): `)
	alternativeKey = regexp.MustCompile(`\bor ([a-z][a-z0-9_]*):(?:\s|$)`)
)

// documentedKeys returns, sorted, the keys doc sets or documents in
// comments, with list records as "[]" and data map keys as "*" (the form
// of daemon.ConfigSchemaKeys, which says which maps hold data).
func documentedKeys(doc string, schema []string) ([]string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		return nil, err
	}
	var entries []entry
	if len(root.Content) > 0 {
		walkYAML(root.Content[0], "", schema, &entries)
	}
	keys := map[string]bool{}
	for _, e := range entries {
		if e.leaf {
			keys[e.path] = true
		}
	}
	for i, line := range strings.Split(doc, "\n") {
		for _, k := range commentKeys(i+1, line, entries) {
			keys[k] = true
		}
	}
	var out []string
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

func walkYAML(n *yaml.Node, prefix string, schema []string, out *[]entry) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name := k.Value
			if isDataMap(prefix, schema) {
				name = "*"
			}
			path := strings.TrimPrefix(prefix+"."+name, ".")
			e := entry{line: k.Line, col: k.Column, path: path, parent: prefix, children: path, leaf: isValue(v) && !isSection(path, schema)}
			if v.Kind == yaml.SequenceNode {
				e.children = path + "[]"
			}
			*out = append(*out, e)
			walkYAML(v, e.children, schema, out)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			walkYAML(item, prefix, schema, out)
		}
	}
}

// isValue: a scalar, or a list of scalars.
func isValue(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.MappingNode:
		return false
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return false
			}
		}
	}
	return true
}

// isSection: the schema has keys under path (a section whose keys are
// all commented out has an empty value).
func isSection(path string, schema []string) bool {
	for _, k := range schema {
		if strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[]") {
			return true
		}
	}
	return false
}

// isDataMap: the schema says prefix is a map whose keys are data.
func isDataMap(prefix string, schema []string) bool {
	for _, k := range schema {
		if strings.HasPrefix(k, prefix+".*") {
			return true
		}
	}
	return false
}

// commentKeys are the keys a comment on line documents. A whole-line
// comment documents "# key: value" and "or key: value" at the column of
// its "#"; a comment after a key documents "or key: value" as that key's
// sibling.
func commentKeys(line int, text string, entries []entry) []string {
	hash := commentStart(text)
	if hash < 0 {
		return nil
	}
	comment := text[hash:]
	var names []string
	col := hash + 1
	if strings.TrimSpace(text[:hash]) == "" {
		if m := commentedKey.FindStringSubmatch(comment); m != nil {
			names = append(names, m[1])
		}
	} else if e, ok := firstKeyOn(line, entries); ok {
		col = e.col
	} else {
		return nil
	}
	for _, m := range alternativeKey.FindAllStringSubmatch(comment, -1) {
		names = append(names, m[1])
	}
	parent := parentAt(line, col, entries)
	var out []string
	for _, n := range names {
		out = append(out, strings.TrimPrefix(parent+"."+n, "."))
	}
	return out
}

// commentStart is the index of the "#" that starts text's comment, or -1:
// at the line's start or after a space, outside quotes.
func commentStart(text string) int {
	var quote rune
	for i, r := range text {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t'):
			return i
		}
	}
	return -1
}

func firstKeyOn(line int, entries []entry) (entry, bool) {
	for _, e := range entries {
		if e.line == line {
			return e, true
		}
	}
	return entry{}, false
}

// parentAt is the path of the mapping a key at column col of line belongs
// to, by indentation: the nearest key above at the same column is a
// sibling, the nearest at a smaller one the parent.
func parentAt(line, col int, entries []entry) string {
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		switch {
		case e.line > line || e.col > col:
		case e.line == line && e.col == col:
			return e.parent
		case e.line == line:
		case e.col == col:
			return e.parent
		default:
			return e.children
		}
	}
	return ""
}
