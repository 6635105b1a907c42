package workflow

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/runbookhq/runbook/internal/yamlguard"
)

// Parse reads and validates a workflow file. file is the name shown in
// messages. On any problem it returns a nil Workflow and an ErrorList with
// every problem found (up to MaxErrors), sorted by position.
//
// Choices the design left open:
//   - scalars are read as text as written: `command: true` runs `true`,
//     `N: 1.50` sets N to "1.50";
//   - `depends_on` takes a list of names or one name;
//   - `command` may be left out (the step does nothing and succeeds, a
//     join point), but an empty command is an error;
//   - anchors, aliases and merge keys (<<) work, within AliasBudget;
//   - an `if` may read steps.X.status only for ancestors X of its step.
func Parse(file string, src []byte) (*Workflow, error) {
	errs := &errorSink{file: file}
	if msg := checkBytes(src); msg != "" {
		errs.addAt(Pos{}, "%s", msg)
		return nil, errs.list
	}
	// A UTF-8 byte order mark is not YAML content; editors on Windows add it.
	body := bytes.TrimPrefix(src, []byte("\ufeff"))
	if len(bytes.TrimSpace(body)) == 0 {
		errs.addAt(Pos{}, "the file is empty: a workflow needs a `steps:` list with at least one step")
		return nil, errs.list
	}
	// Duplicate keys are reported by our own reader, together with every
	// other problem; goccy would stop at the first one.
	f, err := parseYAML(body)
	var over *yamlguard.Error
	switch {
	case errors.As(err, &over):
		errs.addAt(Pos{Line: over.Line, Col: over.Col}, "%s", over.Msg)
		return nil, errs.list
	case err != nil:
		errs.yaml(err)
		return nil, errs.list
	}
	var root ast.Node
	for i, doc := range f.Docs {
		if i == 0 {
			root = doc.Body
			continue
		}
		if doc.Body != nil {
			at := pos(doc.Body)
			if tk := doc.Start; tk != nil && tk.Position != nil { // the `---`
				at = Pos{Line: tk.Position.Line, Col: tk.Position.Column}
			}
			errs.addAt(at, "a workflow file holds one YAML document; remove this `---` and what follows, or move it to its own file")
			break
		}
	}
	if root == nil {
		errs.addAt(Pos{Line: 1, Col: 1}, "the file has no content, only comments: a workflow needs a `steps:` list with at least one step")
		return nil, errs.list
	}

	d := &decoder{nodes: nodes{errs: errs, aliases: map[*ast.AliasNode]ast.Node{}}}
	if !d.index(root) {
		return nil, errs.list // nested too deep to read safely
	}
	wf := &Workflow{File: file, Source: src}
	d.workflow(root, wf)
	if !d.over {
		checkGraph(wf, d.meta, errs)
	}
	if len(errs.list) > 0 {
		errs.sort()
		if errs.dropped > 0 {
			errs.list = append(errs.list, &Error{File: file, Msg: fmt.Sprintf("... and %d more problems not shown: fix the ones above first", errs.dropped)})
		}
		return nil, errs.list
	}
	return wf, nil
}

// parseYAML runs goccy's parser, turning a panic in it into an error: the
// input is untrusted and a server must not crash on it. (Fuzzing found none.)
// yamlguard first bounds what the parse can cost: goccy's parser is
// quadratic in nesting depth and in the keys of a mapping.
func parseYAML(src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML parser failed on this file (%v); please report it", r)
		}
	}()
	return yamlguard.Parse(src, yamlguard.Default, parser.AllowDuplicateMapKey())
}

// checkBytes rejects what cannot be a YAML workflow before parsing it.
func checkBytes(src []byte) string {
	if len(src) > MaxFileSize {
		return fmt.Sprintf("the file is %d bytes; the limit is %d (1 MiB): split the workflow, or move long scripts into files in the repository and call them from `command`", len(src), MaxFileSize)
	}
	if i := bytes.IndexByte(src, 0); i >= 0 {
		line, col := lineCol(src, i)
		return fmt.Sprintf("the file is binary (a NUL byte at line %d, column %d), not a YAML workflow", line, col)
	}
	if !utf8.Valid(src) {
		i := 0
		for i < len(src) {
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		line, col := lineCol(src, i)
		return fmt.Sprintf("the file is not valid UTF-8 text (invalid byte at line %d, column %d): save it as UTF-8", line, col)
	}
	return ""
}

func lineCol(src []byte, off int) (int, int) {
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(src[start:off])
}

// MaxErrors is the most problems Parse reports for one file; past it a
// person fixes what is shown first, and a hostile file cannot make Parse
// build millions of messages.
const MaxErrors = 100

// errorSink collects located errors for one file.
type errorSink struct {
	file    string
	list    ErrorList
	dropped int
}

func (s *errorSink) addAt(p Pos, format string, args ...any) {
	if len(s.list) >= MaxErrors {
		s.dropped++
		return
	}
	s.list = append(s.list, &Error{File: s.file, Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// full reports whether further errors will be dropped (and counts one), so
// callers can skip building costly messages such as "did you mean" hints.
func (s *errorSink) full() bool {
	if len(s.list) >= MaxErrors {
		s.dropped++
		return true
	}
	return false
}

func (s *errorSink) add(n ast.Node, format string, args ...any) {
	s.addAt(pos(n), format, args...)
}

// yaml reports a goccy syntax error at its token, in one line.
func (s *errorSink) yaml(err error) {
	var ye yaml.Error
	if errors.As(err, &ye) {
		p := Pos{}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p = Pos{Line: tk.Position.Line, Col: tk.Position.Column}
		}
		msg := ye.GetMessage()
		if strings.Contains(msg, "'\t'") {
			msg += ": YAML indents with spaces, not tabs"
		}
		s.addAt(p, "invalid YAML: %s", msg)
		return
	}
	s.addAt(Pos{}, "invalid YAML: %v", err)
}

func (s *errorSink) sort() {
	sort.SliceStable(s.list, func(i, j int) bool {
		a, b := s.list[i].Pos, s.list[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}
