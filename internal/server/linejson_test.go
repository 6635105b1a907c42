package server

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

func TestAppendLineJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)
	for _, text := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tcr\rnul\x00 esc\x1b[31mred\x1b[0m",
		"héllo wörld ✓ 日本", "\u2028 and \u2029", "invalid \xff\xfe bytes", "<html> & stuff",
		"truncated \xe2\x82", "\x7f del",
	} {
		for _, stream := range []logline.Stream{logline.Stdout, logline.Stderr} {
			l := logline.Line{N: 42, Stream: stream, Time: at, Text: []byte(text)}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(viewLine(l)); err != nil {
				t.Fatal(err)
			}
			want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			if got := appendLineJSON(nil, l); !bytes.Equal(got, want) {
				t.Errorf("%q:\n got %s\nwant %s", text, got, want)
			}
		}
	}
}

func FuzzAppendLineJSON(f *testing.F) {
	f.Add([]byte("a\"b\\c\x00\xff\u2028"))
	f.Add([]byte("\f\b\x1f"))
	f.Fuzz(func(t *testing.T, text []byte) {
		l := logline.Line{N: 1, Stream: logline.Stdout, Time: time.Unix(0, 0).UTC(), Text: text}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(viewLine(l))
		if got, want := appendLineJSON(nil, l), bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", text, got, want)
		}
	})
}

func BenchmarkLineEncoding(b *testing.B) {
	l := logline.Line{N: 123456, Stream: logline.Stdout, Time: time.Now(), Text: bytes.Repeat([]byte("x"), 80)}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(viewLine(l))
		}
	})
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf = appendLineJSON(buf[:0], l)
		}
	})
}
