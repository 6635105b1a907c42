package docgen

import (
	"bytes"
	_ "embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

// Message is an error text found in the source.
type Message struct{ Text, File string }

//go:embed troubleshooting.yaml
var troubleshootingYAML []byte

// Troubleshooting is the hand-written half of the troubleshooting page:
// which source directories make which section, and advice for messages.
type Troubleshooting struct {
	Intro string `yaml:"intro"`
	Areas []struct {
		Title string   `yaml:"title"`
		Intro string   `yaml:"intro"`
		Dirs  []string `yaml:"dirs"`
	} `yaml:"areas"`
	// Wrappers are local helpers that build an error from a literal, with
	// the text they put before it.
	Wrappers map[string]string `yaml:"wrappers"`
	Advice   []struct {
		Match string `yaml:"match"` // a substring of the message, … for a formatted value
		Do    string `yaml:"do"`
	} `yaml:"advice"`
}

var verb = regexp.MustCompile(`%%|%[-+# 0]*(\[[0-9]+\])?[0-9]*(\.[0-9]+)?[a-zA-Z]`)

// ErrorMessages reads the error texts of the non-test Go files in dir:
// errors.New and fmt.Errorf literals, Msg: fields of error structs, and the
// literals handed to the wrappers. A formatted value shows as "…".
func ErrorMessages(root, dir string, wrappers map[string]string) ([]Message, error) {
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var out []Message
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(root, path)
		add := func(e ast.Expr, prefix string) {
			text, ok := literal(e)
			if !ok {
				return
			}
			text = prefix + verb.ReplaceAllStringFunc(text, func(v string) string {
				if v == "%%" {
					return "%"
				}
				return "…"
			})
			letters := 0
			for _, r := range text {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
					letters++
				}
			}
			if letters < 8 || seen[text] {
				return
			}
			seen[text] = true
			out = append(out, Message{Text: text, File: filepath.ToSlash(rel)})
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				if len(x.Args) == 0 {
					return true
				}
				switch fn := x.Fun.(type) {
				case *ast.SelectorExpr:
					if id, ok := fn.X.(*ast.Ident); ok && (id.Name == "errors" && fn.Sel.Name == "New" || id.Name == "fmt" && fn.Sel.Name == "Errorf") {
						add(x.Args[0], "")
					}
				case *ast.Ident:
					if prefix, ok := wrappers[fn.Name]; ok {
						add(x.Args[0], prefix)
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := x.Key.(*ast.Ident); ok && k.Name == "Msg" {
					v := x.Value
					if c, ok := v.(*ast.CallExpr); ok && len(c.Args) > 0 {
						v = c.Args[0]
					}
					add(v, "")
				}
			}
			return true
		})
	}
	return out, nil
}

// literal reads a string literal, or a sum of literals and other values
// (shown as …).
func literal(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		l, lok := literal(x.X)
		r, rok := literal(x.Y)
		if !lok && !rok {
			return "", false
		}
		if !lok {
			l = "…"
		}
		if !rok {
			r = "…"
		}
		return l + r, true
	}
	return "", false
}

// TroubleshootingPage renders the troubleshooting page from the source
// under root and the advice in troubleshooting.yaml. Advice that matches
// no message is an error: its message was changed or removed.
func TroubleshootingPage(root string) ([]byte, error) {
	var t Troubleshooting
	if err := yaml.UnmarshalWithOptions(troubleshootingYAML, &t, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("internal/docgen/troubleshooting.yaml: %w", err)
	}
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Troubleshooting\n\n")
	p("<!-- Generated from the error texts in the source and internal/docgen/troubleshooting.yaml by `go run ./cmd/runbook docs-gen`; do not edit. -->\n\n")
	p("%s\n\n", strings.TrimSpace(t.Intro))
	used := make([]bool, len(t.Advice))
	for _, area := range t.Areas {
		var msgs []Message
		for _, dir := range area.Dirs {
			if _, err := os.Stat(filepath.Join(root, dir)); err != nil {
				return nil, fmt.Errorf("troubleshooting.yaml: area %q: %w", area.Title, err)
			}
			m, err := ErrorMessages(root, dir, t.Wrappers)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m...)
		}
		p("## %s\n\n", area.Title)
		if area.Intro != "" {
			p("%s\n\n", strings.TrimSpace(area.Intro))
		}
		var advised, rest []string
		for _, m := range msgs {
			var dos []string
			for i, a := range t.Advice {
				if strings.Contains(m.Text, a.Match) {
					used[i] = true
					dos = append(dos, strings.TrimSpace(a.Do))
				}
			}
			if len(dos) > 0 {
				advised = append(advised, fmt.Sprintf("| %s | %s | `%s` |\n", code(m.Text), cell(strings.Join(dos, " ")), m.File))
			} else {
				rest = append(rest, fmt.Sprintf("| %s | `%s` |\n", code(m.Text), m.File))
			}
		}
		if len(advised) > 0 {
			p("| message | what to do | source |\n|---|---|---|\n%s\n", strings.Join(advised, ""))
		}
		if len(rest) > 0 {
			p("Other messages of this part, which say what to do themselves:\n\n| message | source |\n|---|---|\n%s\n", strings.Join(rest, ""))
		}
	}
	var unused []string
	for i, u := range used {
		if !u {
			unused = append(unused, strconv.Quote(t.Advice[i].Match))
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		return nil, fmt.Errorf("internal/docgen/troubleshooting.yaml: advice for %s matches no message in the source: update its match to the new text", strings.Join(unused, ", "))
	}
	return b.Bytes(), nil
}

// code puts text in a code span that survives backticks and table pipes.
func code(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.Contains(s, "|") {
		return "<code>" + htmlCode(s) + "</code>"
	}
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}
