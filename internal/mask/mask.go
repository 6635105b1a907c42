// Package mask hides secrets in step output: every occurrence of a secret
// the run knows, and of the encoded forms tools print, becomes "***".
//
// Matching is Wu-Manber: a table of 2-byte blocks says how far the window
// may jump, so a line without a secret costs about len/minLen table reads
// and no allocation, however many secrets there are.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// MinLen is the shortest secret masked. Shorter values ("1", "true", "dev")
// would blank ordinary words in every line, and each blank would tell the
// reader where the value occurs: more harm than protection.
const MinLen = 4

// Replacement stands for each masked stretch of text.
const Replacement = "***"

const block = 2 // bytes per Wu-Manber block: 64 Ki shift entries

// Masker rewrites lines with every known secret replaced. It is read-only
// once built and safe for concurrent use. The zero value and nil mask nothing.
type Masker struct {
	pats  [][]byte            // longest first, so a bucket tries long ones first
	edges []edge              // by pattern: partial characters beside it to mask too
	min   int                 // the shortest pattern's length
	shift []uint8             // by block: how far the window end may move
	cands map[uint16][]uint16 // by the block ending the window's first min bytes
}

// edge says which characters beside a base64 match also encode bits of
// the secret: the partial character before it, the one after it (and the
// padding that may follow that one). They are masked whatever they are,
// since their other bits come from unknown neighbouring bytes.
type edge struct {
	before, after bool
	alpha         *[256]bool // the base64 alphabet; nil for other forms
}

const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

var stdAlpha, urlAlpha, anyAlpha = alphabet(b64 + "+/"), alphabet(b64 + "-_"), alphabet(b64 + "+/-_")

func alphabet(chars string) *[256]bool {
	var a [256]bool
	for i := range len(chars) {
		a[chars[i]] = true
	}
	return &a
}

// New builds a Masker for secrets. Each secret is masked as written, as
// each of its lines (a PEM key is printed line by line), JSON-escaped, in
// base64 (standard and URL alphabets, padded or not, as it appears at any
// byte offset inside a longer encoded text, like a Basic auth header, with
// the partial characters at its ends) and URL-encoded. Values shorter than
// MinLen are skipped.
func New(secrets ...string) *Masker {
	seen := map[string]int{}
	var pats [][]byte
	var edges []edge
	add := func(f form) {
		if len(f.text) < MinLen {
			return
		}
		if i, ok := seen[f.text]; ok { // the same text as two forms: mask both ways
			e := &edges[i]
			e.before, e.after = e.before || f.before, e.after || f.after
			switch {
			case e.alpha == nil:
				e.alpha = f.alpha
			case f.alpha != nil && f.alpha != e.alpha: // both base64 alphabets
				e.alpha = anyAlpha
			}
			return
		}
		seen[f.text] = len(pats)
		pats = append(pats, []byte(f.text))
		edges = append(edges, f.edge)
	}
	for _, s := range secrets {
		if len(s) < MinLen {
			continue
		}
		for _, form := range forms(s) {
			add(form)
		}
		if strings.ContainsAny(s, "\r\n") {
			for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
				for _, form := range forms(line) {
					add(form)
				}
			}
		}
	}
	if len(pats) == 0 {
		return &Masker{}
	}
	order := make([]int, len(pats))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(pats[b]) - len(pats[a]) })
	sorted, sortedEdges := make([][]byte, len(pats)), make([]edge, len(pats))
	for i, j := range order {
		sorted[i], sortedEdges[i] = pats[j], edges[j]
	}
	pats = sorted
	m := &Masker{pats: pats, edges: sortedEdges, min: len(pats[len(pats)-1]), cands: map[uint16][]uint16{}}
	m.shift = make([]uint8, 1<<16)
	def := min(m.min-block+1, 255)
	for i := range m.shift {
		m.shift[i] = uint8(def)
	}
	for i, p := range pats {
		// Blocks ending at q within the first min bytes: the window end may
		// move by min-q before this pattern could end a match there.
		for q := block; q <= m.min; q++ {
			b := key(p[q-block], p[q-1])
			m.shift[b] = min(m.shift[b], uint8(m.min-q))
		}
		k := key(p[m.min-2], p[m.min-1])
		m.cands[k] = append(m.cands[k], uint16(i))
	}
	return m
}

func key(a, b byte) uint16 { return uint16(a)<<8 | uint16(b) }

// form is one way a secret may be printed.
type form struct {
	text string
	edge
}

// forms is s and the encodings of it that programs commonly print.
func forms(s string) []form {
	out := []form{{text: s}, {text: url.QueryEscape(s)}, {text: url.PathEscape(s)}}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			quoted := strings.TrimSuffix(b.String(), "\n")
			out = append(out, form{text: quoted[1 : len(quoted)-1]})
		}
	}
	for _, enc := range []struct {
		enc   *base64.Encoding
		alpha *[256]bool
	}{{base64.RawStdEncoding, stdAlpha}, {base64.RawURLEncoding, urlAlpha}} {
		out = append(out, base64At(enc.enc, enc.alpha, s)...)
	}
	return out
}

// base64At gives, for each of the 3 byte offsets s can start at inside an
// encoded text, the characters that depend on s alone, and whether a
// character that depends on s in part lies before or after them. Together
// they match s wherever it sits in base64, e.g. base64("x-access-token:" + s).
func base64At(enc *base64.Encoding, alpha *[256]bool, s string) []form {
	var out []form
	for off := range 3 {
		text := enc.EncodeToString(append(make([]byte, off), s...))
		from, to := (8*off+5)/6, 8*(off+len(s))/6
		if to-from >= MinLen {
			out = append(out, form{text: text[from:to], edge: edge{
				before: 8*off%6 != 0, after: 8*(off+len(s))%6 != 0, alpha: alpha}})
		}
	}
	return out
}

// Empty reports whether m masks nothing.
func (m *Masker) Empty() bool { return m == nil || len(m.pats) == 0 }

// Mask returns line with every secret replaced. When nothing matches it
// returns line itself, without allocating.
func (m *Masker) Mask(line []byte) []byte {
	out, _ := m.Append(nil, line)
	if out == nil {
		return line
	}
	return out
}

// MaskString is Mask for strings.
func (m *Masker) MaskString(s string) string {
	if m.Empty() || len(s) < m.min {
		return s
	}
	out, ok := m.Append(nil, []byte(s))
	if !ok {
		return s
	}
	return string(out)
}

// Append appends line, masked, to dst and reports whether anything was
// masked. When nothing was, dst is returned unchanged (line is not copied):
// callers use line as it is.
func (m *Masker) Append(dst, line []byte) ([]byte, bool) {
	if m.Empty() || len(line) < m.min {
		return dst, false
	}
	masked := false
	copied := 0      // line[:copied] is in dst, or masked
	cs, ce := -1, -1 // the merged stretch being masked
	n, lm := len(line), m.min
	for end := lm - 1; end < n; {
		s := m.shift[key(line[end-1], line[end])]
		if s > 0 {
			end += int(s)
			continue
		}
		start := end - lm + 1
		for _, i := range m.cands[key(line[end-1], line[end])] {
			p := m.pats[i]
			if !bytes.HasPrefix(line[start:], p) {
				continue
			}
			ms, me := m.widen(line, int(i), start, start+len(p))
			switch {
			case cs >= 0 && ms <= ce: // overlaps or touches the stretch: widen it
				cs, ce = min(cs, ms), max(ce, me)
			default:
				if cs >= 0 {
					dst = append(append(dst, line[copied:cs]...), Replacement...)
					copied = ce
				}
				cs, ce, masked = ms, me, true
			}
		}
		end++
	}
	if !masked {
		return dst, false
	}
	dst = append(append(dst, line[copied:cs]...), Replacement...)
	return append(dst, line[ce:]...), true
}

// widen extends the match [s, e) of pattern i over the partial base64
// characters beside it and the padding after the last one.
func (m *Masker) widen(line []byte, i, s, e int) (int, int) {
	ed := m.edges[i]
	if ed.alpha == nil {
		return s, e
	}
	if ed.before && s > 0 && ed.alpha[line[s-1]] {
		s--
	}
	if ed.after && e < len(line) && ed.alpha[line[e]] {
		e++
		for pad := 0; pad < 2 && e < len(line) && line[e] == '='; pad++ {
			e++
		}
	}
	return s, e
}
