package frame

import (
	"bytes"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestParseRejectsWhatIsNotARecord(t *testing.T) {
	for _, s := range []string{
		"", "O", "O1", "O1x", "Ox hello", "o1 hello", "O 1 hello", "O0 zero", "O01 leading zero",
		"Z1 kind", "O99999999999999999999999 too long", "exec /usr/local/bin/runbook: no such file or directory",
	} {
		if _, _, _, ok := Parse([]byte(s)); ok {
			t.Errorf("Parse(%q) took it as a record", s)
		}
	}
	kind, seq, text, ok := Parse([]byte("E12 "))
	if !ok || kind != Stderr || seq != 12 || len(text) != 0 {
		t.Fatalf("Parse(\"E12 \") = %c %d %q %v, want an empty stderr line 12", kind, seq, text, ok)
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		kind := rapid.SampledFrom([]byte{Stdout, Stderr, Exit}).Draw(t, "kind")
		seq := rapid.Uint64Min(1).Draw(t, "seq")
		text := bytes.ReplaceAll(rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "text"), []byte{'\n'}, []byte{'x'})
		rec := Append(nil, kind, seq, text)
		if rec[len(rec)-1] != '\n' || bytes.Count(rec, []byte{'\n'}) != 1 {
			t.Fatalf("record %q is not exactly one line", rec)
		}
		k, s, got, ok := Parse(rec[:len(rec)-1])
		if !ok || k != kind || s != seq || !bytes.Equal(got, text) {
			t.Fatalf("Parse(Append(%c, %d, %q)) = %c %d %q %v", kind, seq, text, k, s, got, ok)
		}
	})
}

func lines(t *testing.T, in string, size int) []string {
	t.Helper()
	var out []string
	if err := Lines(strings.NewReader(in), size, func(l []byte) { out = append(out, string(l)) }, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLinesSplitsLongLinesAndKeepsALastLineWithoutNewline(t *testing.T) {
	got := lines(t, "a\n\nbc", 16)
	if want := []string{"a", "", "bc"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	long := strings.Repeat("x", 40)
	got = lines(t, long+"\nend\n", 16)
	if want := []string{long[:16], long[16:32], long[32:], "end"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Exactly one buffer: its '\n' ends it instead of making an empty line.
	got = lines(t, strings.Repeat("y", 16)+"\nz\n", 16)
	if want := []string{strings.Repeat("y", 16), "z"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestWriterNumbersRecords(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	_ = w.Write(Stdout, []byte("out"))
	_ = w.Write(Stderr, []byte("err"))
	_ = w.Write(Exit, []byte("3"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "O1 out\nE2 err\nX3 3\n"; b.String() != want {
		t.Fatalf("wrote %q, want %q", b.String(), want)
	}
}
