// Package yamlguard bounds what parsing a YAML document from outside can
// cost, before goccy/go-yaml's parser sees it.
//
// goccy's parser is quadratic in three ways: every node stores its full path
// ($.a.b[0]...), so deep nesting or long keys cost depth × nodes bytes; a
// block mapping of n keys is parsed by n nested calls that each copy the
// pairs after them; and its lexer keeps ~300 bytes per token. A 20 KB file of
// `[` took the server to 656 MB. So a document is checked in two stages:
//
//  1. on the raw bytes, a stateless upper bound on the number of tokens the
//     lexer can make (every token starts at a byte this count includes), so
//     lexing itself stays cheap;
//  2. on goccy's own tokens, the exact figures its parser pays for: nesting
//     depth (flow brackets and block indentation), tokens, keys per block
//     mapping and the bytes of node paths. The parser then reads those same
//     tokens, so nothing the check saw differs from what is parsed.
//
// It imports nothing of Runbook's, so the workflow package may use it.
package yamlguard

import (
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Limits bound one document. Zero fields take Default's value.
type Limits struct {
	MaxDepth     int  // nested collections, flow and block together
	MaxTokens    int  // YAML tokens (scalars, indicators, comments)
	MaxKeys      int  // keys in one block mapping
	MaxPathBytes int  // sum over tokens of the length of their node's path
	NoAliases    bool // refuse aliases: for decoders that expand them without limit
}

// Default suits every document Runbook reads: a 1000-step workflow (about
// 29,000 tokens, 8 levels) is well inside, and a 1 MiB document at the
// limits parses in well under a second and 64 MB.
var Default = Limits{MaxDepth: 64, MaxTokens: 50_000, MaxKeys: 2_000, MaxPathBytes: 16 << 20}

// rawTokenFactor: the raw-byte bound counts words inside block scalars and
// strings too, so it allows this many times MaxTokens before lexing.
const rawTokenFactor = 3

// Error is a document over a limit, at a 1-based line and column (0 when the
// whole document is meant).
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = Default.MaxDepth
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = Default.MaxTokens
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = Default.MaxKeys
	}
	if l.MaxPathBytes <= 0 {
		l.MaxPathBytes = Default.MaxPathBytes
	}
	return l
}

// Parse checks src against lim and parses it with goccy's parser. A document
// over a limit gets an *Error; a syntax error is goccy's.
func Parse(src []byte, lim Limits, opts ...parser.Option) (*ast.File, error) {
	tokens, err := Tokens(src, lim)
	if err != nil {
		return nil, err
	}
	return parser.Parse(tokens, 0, opts...)
}

// Check reports whether src is within lim, for callers that decode with
// goccy's Decoder (which lexes again: fine for small files).
func Check(src []byte, lim Limits) error {
	_, err := Tokens(src, lim)
	return err
}

// MaxFileBytes bounds the settings files ReadFile reads (config, plans).
const MaxFileBytes = 1 << 20

// ReadFile reads a settings file of at most MaxFileBytes and checks it
// against lim, so that a decoder may then read it. Errors name the path.
func ReadFile(path string, lim Limits) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(src) > MaxFileBytes {
		return nil, fmt.Errorf("%s: the file is over %d bytes (1 MiB), too big for a settings file", path, MaxFileBytes)
	}
	if err := Check(src, lim); err != nil {
		return nil, In(path, err)
	}
	return src, nil
}

// In prefixes an error of Check or Parse with the file's name, giving
// file:line:col: message.
func In(file string, err error) error {
	if e, ok := err.(*Error); ok && e.Line > 0 {
		return fmt.Errorf("%s:%w", file, err)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// Tokens lexes src, if its raw bound allows, and checks the tokens.
func Tokens(src []byte, lim Limits) (token.Tokens, error) {
	lim = lim.withDefaults()
	if err := rawBound(src, lim.MaxTokens*rawTokenFactor); err != nil {
		return nil, err
	}
	tokens := lexer.Tokenize(string(src))
	if err := check(tokens, lim); err != nil {
		return nil, err
	}
	return tokens, nil
}

// rawBound refuses src when more than max tokens could start in it.
func rawBound(src []byte, max int) error {
	if n, at := rawCount(src, max); n > max {
		line, col := lineCol(src, at)
		return &Error{Line: line, Col: col, Msg: fmt.Sprintf(
			"the document is too dense to read safely (more than %d YAML tokens are possible by here, counting words and symbols): move long scripts into files and call them, or split the document", max)}
	}
	return nil
}

// rawCount counts the bytes where a token may start, up to max+1: an
// indicator, or a non-blank byte after a blank or an indicator. Every goccy
// token starts at one, except the content token the lexer adds after a
// block scalar header (| or >) with no content, so those count twice, and
// the one invalid token it stops at. The count (FuzzGuard checks it) bounds
// the lexer's work without modelling YAML. at is where it passed max.
func rawCount(src []byte, max int) (n, at int) {
	prevStarts := true // start of input acts as a blank
	for i, c := range src {
		blank := c == ' ' || c == '\t' || c == '\n' || c == '\r'
		ind := isIndicator(c)
		if !blank && (prevStarts || ind) {
			n++
			if c == '|' || c == '>' {
				n++
			}
			if n > max {
				return n, i
			}
		}
		prevStarts = blank || ind
	}
	return n, len(src)
}

func isIndicator(c byte) bool {
	switch c {
	case '[', ']', '{', '}', ',', ':', '-', '?', '&', '*', '!', '|', '>', '\'', '"', '%', '#', '@', '`', '<', '.':
		return true
	}
	return false
}

func lineCol(src []byte, off int) (int, int) {
	line, start := 1, 0
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line, start = line+1, i+1
		}
	}
	return line, 1 + utf8.RuneCount(src[start:off])
}

// frame is one open collection while walking the tokens.
type frame struct {
	flow  bool
	seq   bool
	col   int // block: the column of its keys or dashes
	items int // keys of a mapping, entries of a sequence, so far
	path  int // bytes its children's paths add: ".key" or "[index]"
}

// check walks goccy's tokens with a stack of open collections, reporting
// the first limit crossed, at the token that crosses it.
func check(tokens token.Tokens, lim Limits) error {
	var stack []frame
	pathLen, pathSum := 0, 0 // path bytes of the current node; sum over tokens
	prefix := 0              // anchors and tags before a value each wrap it in a node
	flows := 0
	var prev *token.Token
	push := func(f frame) { stack = append(stack, f); pathLen += f.path }
	pop := func() { pathLen -= stack[len(stack)-1].path; stack = stack[:len(stack)-1] }
	setPath := func(f *frame, n int) { pathLen += n - f.path; f.path = n }
	// block pops block frames deeper than column col and returns the one at
	// col, if any. A flow frame stops it: its contents ignore indentation.
	block := func(col int) *frame {
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.flow || top.col < col {
				return nil
			}
			if top.col == col {
				return top
			}
			pop()
		}
		return nil
	}
	for i, tk := range tokens {
		if tk.Position == nil || tk.Type == token.CommentType && i < lim.MaxTokens {
			continue
		}
		if i == lim.MaxTokens {
			return at(tk, "the document has more than %d YAML tokens; split it into smaller files", lim.MaxTokens)
		}
		errTk := tk
		col := tk.Position.Column
		switch tk.Type {
		case token.DocumentHeaderType, token.DocumentEndType:
			for len(stack) > 0 {
				pop()
			}
			flows = 0
		case token.SequenceStartType:
			flows++
			push(frame{flow: true, seq: true, path: indexLen(0)})
		case token.MappingStartType:
			flows++
			push(frame{flow: true, path: 3})
		case token.CollectEntryType:
			if n := len(stack); n > 0 && stack[n-1].flow {
				stack[n-1].items++
				setPath(&stack[n-1], indexLen(stack[n-1].items))
			}
		case token.SequenceEndType, token.MappingEndType:
			if flows > 0 {
				for len(stack) > 0 && !stack[len(stack)-1].flow {
					pop()
				}
				if len(stack) > 0 {
					pop()
				}
				flows--
			}
		case token.SequenceEntryType, token.MappingKeyType:
			if flows > 0 {
				break
			}
			// A sequence at its parent key's column ("key:\n- a") is
			// still nested in that mapping.
			if f := block(col); f != nil && f.seq {
				f.items++
				setPath(f, indexLen(f.items))
			} else {
				push(frame{seq: true, col: col, path: indexLen(0)})
			}
		case token.MappingValueType:
			keyLen := 0
			if prev != nil {
				keyLen = len(prev.Value)
			}
			if flows > 0 {
				if n := len(stack); n > 0 {
					setPath(&stack[n-1], keyLen+3)
				}
				break
			}
			kcol := col
			if prev != nil && prev.Position != nil && prev.Position.Line == tk.Position.Line {
				kcol = prev.Position.Column
				errTk = prev
			}
			f := block(kcol)
			if f != nil && f.seq { // a key after an unindented sequence ends it
				pop()
				f = block(kcol)
			}
			if f == nil {
				push(frame{col: kcol})
				f = &stack[len(stack)-1]
			}
			f.items++
			if f.items > lim.MaxKeys {
				return at(errTk, "a mapping here has more than %d keys; split it", lim.MaxKeys)
			}
			setPath(f, keyLen+3)
		case token.AliasType:
			if lim.NoAliases {
				name := ""
				if i+1 < len(tokens) {
					name = tokens[i+1].Value
				}
				return at(tk, "aliases (*%s) are not allowed in this file: write the value out", name)
			}
		}
		if depth := len(stack) + prefix; depth > lim.MaxDepth {
			return at(errTk, "nesting deeper than %d levels: a document this deep cannot be a workflow or a settings file; flatten it", lim.MaxDepth)
		}
		if tk.Type == token.AnchorType || tk.Type == token.TagType {
			prefix++
		} else {
			prefix = 0
		}
		pathSum += pathLen + len(tk.Value)
		if pathSum > lim.MaxPathBytes {
			return at(tk, "the document's keys are too long for its size (over %d bytes of key paths); shorten the keys", lim.MaxPathBytes)
		}
		prev = tk
	}
	return nil
}

// indexLen is the length of "[i]".
func indexLen(i int) int {
	n := 3
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}

func at(tk *token.Token, format string, args ...any) error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}
