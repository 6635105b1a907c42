package server

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/runbookhq/runbook/internal/logline"
)

// appendLineJSON appends l as the JSON of lineView, without reflection: a
// log follower encodes every line it sends, and with hundreds of followers
// encoding/json was most of the server's CPU.
func appendLineJSON(b []byte, l logline.Line) []byte {
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, l.N, 10)
	b = append(b, `,"stream":"`...)
	b = append(b, l.Stream.String()...)
	b = append(b, `","time":"`...)
	b = l.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","text":`...)
	b = appendJSONString(b, l.Text)
	if !utf8.Valid(l.Text) {
		b = append(b, `,"raw":"`...)
		b = base64.StdEncoding.AppendEncode(b, l.Text)
		b = append(b, '"')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json writes
// it: invalid UTF-8 becomes U+FFFD, and <, >, & stay as they are (the
// stream is not HTML).
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
