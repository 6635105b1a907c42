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
	min   int                 // the shortest pattern's length
	shift []uint8             // by block: how far the window end may move
	cands map[uint16][]uint16 // by the block ending the window's first min bytes
}

// New builds a Masker for secrets. Each secret is masked as written, as
// each of its lines (a PEM key is printed line by line), in base64 (as it
// appears at any byte offset inside a longer encoded text, like a Basic
// auth header) and URL-encoded. Values shorter than MinLen are skipped.
func New(secrets ...string) *Masker {
	seen := map[string]bool{}
	var pats [][]byte
	add := func(p string) {
		if len(p) >= MinLen && !seen[p] {
			seen[p] = true
			pats = append(pats, []byte(p))
		}
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
	slices.SortFunc(pats, func(a, b []byte) int { return len(b) - len(a) })
	m := &Masker{pats: pats, min: len(pats[len(pats)-1]), cands: map[uint16][]uint16{}}
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

// forms is s and the encodings of it that programs commonly print.
func forms(s string) []string {
	out := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		out = append(out, base64At(enc, s)...)
	}
	return out
}

// base64At gives, for each of the 3 byte offsets s can start at inside an
// encoded text, the characters that depend on s alone. Together they match
// s wherever it sits in base64, e.g. base64("x-access-token:" + s).
func base64At(enc *base64.Encoding, s string) []string {
	var out []string
	for off := range 3 {
		text := enc.EncodeToString(append(make([]byte, off), s...))
		from, to := (8*off+5)/6, 8*(off+len(s))/6
		if to-from >= MinLen {
			out = append(out, text[from:to])
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
			switch {
			case start <= ce: // overlaps or touches the stretch: widen it
				ce = max(ce, start+len(p))
			default:
				if cs >= 0 {
					dst = append(append(dst, line[copied:cs]...), Replacement...)
					copied = ce
				}
				cs, ce, masked = start, start+len(p), true
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
