package readmetest

import (
	"fmt"
	"strings"
)

// IllustrativeMark, on the line before a block's fence, says the block is
// not run (its triad commands are parsed, not executed).
const IllustrativeMark = "<!-- readme:illustrative -->"

// Block is one fenced code block of a Markdown text.
type Block struct {
	Lang         string // the info string's first word: sh, yaml, …
	Line         int    // 1-based line of the opening fence
	Illustrative bool   // IllustrativeMark precedes the fence
	Text         string // the lines between the fences
}

// Shell reports whether the block is shell to run (sh, bash, shell).
func (b Block) Shell() bool {
	return b.Lang == "sh" || b.Lang == "bash" || b.Lang == "shell"
}

// Blocks returns md's fenced (```) code blocks in order. An unclosed fence
// is an error, so a block cannot silently swallow the rest of the file.
func Blocks(md string) ([]Block, error) {
	var out []Block
	var cur *Block
	var body []string
	prev := ""
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			lang, _, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), " ")
			cur = &Block{Lang: lang, Line: i + 1, Illustrative: strings.TrimSpace(prev) == IllustrativeMark}
			body = nil
		case cur != nil && trimmed == "```":
			cur.Text = strings.Join(body, "\n")
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
		prev = line
	}
	if cur != nil {
		return nil, fmt.Errorf("the code block opened at line %d is not closed", cur.Line)
	}
	return out, nil
}

// Commands splits a block into shell command lines: continuation lines
// (ending in a backslash) joined, comments and blank lines dropped.
func Commands(text string) ([][]string, error) {
	var out [][]string
	pending := ""
	for _, line := range strings.Split(text, "\n") {
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			pending += s + " "
			continue
		}
		words, err := Words(pending + line)
		pending = ""
		if err != nil {
			return nil, err
		}
		if len(words) > 0 {
			out = append(out, words)
		}
	}
	if pending != "" {
		return nil, fmt.Errorf("the block ends in a line continuation")
	}
	return out, nil
}

// Words splits one shell line into words as sh would before expansion:
// single and double quotes group, a backslash escapes, an unquoted # at a
// word's start begins a comment. Expansions ($x, $(…)) are kept as text.
func Words(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range line {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return words, nil
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote in %q", quote, line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// TriadArgs returns the arguments of a command line that runs triad
// (./triad …, triad …, go run ./cmd/triad …), and false for any other.
func TriadArgs(words []string) ([]string, bool) {
	switch {
	case len(words) > 0 && (words[0] == "./triad" || words[0] == "triad"):
		return words[1:], true
	case len(words) > 2 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/triad":
		return words[3:], true
	}
	return nil, false
}
