package yamlguard

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
)

// FuzzGuard checks the guard against the parser it protects: whatever it
// accepts, goccy parses into a tree no deeper than the limits allow (each
// counted level is at most a mapping, its pair and a tag or anchor), and
// whatever goccy cannot lex is not made worse by the guard.
func FuzzGuard(f *testing.F) {
	for _, tt := range hostile {
		if len(tt.src) < 4096 {
			f.Add([]byte(tt.src))
		}
	}
	for _, s := range []string{
		strings.Repeat("[", 80), strings.Repeat("{a: ", 80), strings.Repeat("- ", 80) + "x",
		strings.Repeat("[{", 40), strings.Repeat("&a [", 80), blockNest(80),
		"a: |\n  [[[[\n b: [[[\n", "a: \"[[[[\"\nb: '{{{{'\n# [[[[\n", "a: b\n  [[[[\n  - - - -\n",
		"a:\n- b:\n  - c:\n    - d\n", "? [a]\n: b\n", "a: &x [1]\nb: *x\n", "--- [\n--- ]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		// The raw count bounds what the lexer makes, so it may run first
		// (plus the one invalid token at which the lexer stops).
		if n, _ := rawCount(src, 2*len(src)); len(lexer.Tokenize(string(src))) > n+1 {
			t.Fatalf("the lexer made %d tokens, more than the raw count %d", len(lexer.Tokenize(string(src))), n)
		}
		file, err := Parse(src, Limits{MaxDepth: 16})
		if err != nil || file == nil {
			return
		}
		for _, doc := range file.Docs {
			if d := astDepth(doc.Body, 0); d > 3*16+2 {
				t.Fatalf("accepted a document %d nodes deep (limit 16 levels)", d)
			}
		}
		if _, err := parser.ParseBytes(src, 0); err != nil {
			t.Fatalf("goccy refuses what the guarded parse accepted: %v", err)
		}
	})
}

func astDepth(n ast.Node, d int) int {
	if n == nil {
		return d
	}
	best := d + 1
	var kids []ast.Node
	switch v := n.(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			kids = append(kids, mv)
		}
	case *ast.MappingValueNode:
		kids = []ast.Node{v.Key, v.Value}
	case *ast.MappingKeyNode:
		kids = []ast.Node{v.Value}
	case *ast.SequenceNode:
		kids = v.Values
	case *ast.TagNode:
		kids = []ast.Node{v.Value}
	case *ast.AnchorNode:
		kids = []ast.Node{v.Value}
	}
	for _, k := range kids {
		if x := astDepth(k, d+1); x > best {
			best = x
		}
	}
	return best
}
