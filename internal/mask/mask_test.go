package mask

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/logline"
	"pgregory.net/rapid"
)

func TestMaskReplacesEveryOccurrence(t *testing.T) {
	m := New("hunter22", "s3cr3t-value", "ab", "")
	for _, c := range []struct{ in, want string }{
		{"password is hunter22", "password is ***"},
		{"hunter22", "***"},
		{"hunter22 and hunter22!", "*** and ***!"},
		{"hunter2", "hunter2"},                // a prefix alone is not the secret
		{"ab ab ab", "ab ab ab"},              // too short to mask
		{"x=s3cr3t-valuehunter22.", "x=***."}, // touching secrets merge
		{"", ""},
	} {
		if got := m.MaskString(c.in); got != c.want {
			t.Errorf("MaskString(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestOverlappingSecretsAreMaskedWhole(t *testing.T) {
	m := New("abcdef", "defghi", "cdefgh")
	if got := m.MaskString("0abcdefghi1"); got != "0***1" {
		t.Errorf("got %q, want 0***1", got)
	}
	// One secret inside another.
	m = New("token-1234-long", "1234-l")
	if got := m.MaskString("[token-1234-long] [1234-l]"); got != "[***] [***]" {
		t.Errorf("got %q", got)
	}
}

func TestEncodedFormsAreMasked(t *testing.T) {
	secret := "ghs_Zm9v+bar/baz=qux"
	m := New(secret)
	for _, in := range []string{
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)),
		url.QueryEscape(secret),
		url.PathEscape(secret),
		// The Authorization header repo_cloner sends, at every offset.
		base64.StdEncoding.EncodeToString([]byte("x-access-token:" + secret)),
		base64.StdEncoding.EncodeToString([]byte("u:" + secret + "tail")),
		base64.StdEncoding.EncodeToString([]byte("ab:" + secret)),
	} {
		got, ok := strings.CutPrefix(m.MaskString("Authorization: Basic "+in), "Authorization: Basic ")
		if !ok || !strings.Contains(got, Replacement) {
			t.Errorf("%q was not masked: %q", in, got)
		}
		// What survives encodes what lies beside the secret, and at most a
		// few bits of it at each end.
		if kept := len(got) - len(Replacement)*strings.Count(got, Replacement); kept > len(in)-len(secret) {
			t.Errorf("%q kept %d characters: %q", in, kept, got)
		}
	}
}

func TestMultiLineSecretIsMaskedLineByLine(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\r\nq7Zx0aBcD\n-----END KEY-----\n"
	m := New(key)
	for _, line := range []string{"MIIEowIBAAKCAQEA", "q7Zx0aBcD", "-----BEGIN KEY-----"} {
		if got := m.MaskString(line); got != Replacement {
			t.Errorf("%q masked as %q", line, got)
		}
	}
}

func TestNoSecretsMasksNothing(t *testing.T) {
	for _, m := range []*Masker{nil, {}, New(), New("abc", "")} {
		if !m.Empty() {
			t.Fatalf("%v is not empty", m)
		}
		if got := m.MaskString("abc hunter22"); got != "abc hunter22" {
			t.Errorf("got %q", got)
		}
	}
}

func TestMaskDoesNotAllocateWithoutAMatch(t *testing.T) {
	m := New("ghs_16C7e42F292c6912E7710c838347Ae178B4a", "hunter22hunter22", "AKIAIOSFODNN7EXAMPLE")
	line := []byte(strings.Repeat("build step 42 compiled package ok ", 3))
	if a := testing.AllocsPerRun(100, func() {
		if out := m.Mask(line); &out[0] != &line[0] {
			t.Fatal("copied a line without secrets")
		}
	}); a != 0 {
		t.Errorf("%v allocations per line, want 0", a)
	}
}

func TestSecretsAtTheEdgesOfLines(t *testing.T) {
	s := "edge-secret-9"
	m := New(s)
	for _, in := range []string{s + "tail", "head" + s, s, s + s} {
		if got := m.MaskString(in); strings.Contains(got, s) || !strings.Contains(got, Replacement) {
			t.Errorf("%q → %q", in, got)
		}
	}
}

type lines struct{ got []string }

func (l *lines) WriteLine(x logline.Line) error {
	l.got = append(l.got, string(x.Text))
	return nil
}

func TestSinkMasksBeforeTheInnerSink(t *testing.T) {
	inner := &lines{}
	s := Sink(inner, FromEnv(map[string]string{"RUNBOOK_REPO_TOKEN": "tok-abc-123", "HOME": "/home/runner", "db_password": "pa55word"}))
	for i, text := range []string{"clone with tok-abc-123", "home is /home/runner", "pw pa55word", "tok-abc-123"} {
		if err := s.WriteLine(logline.Line{N: int64(i + 1), Text: []byte(text)}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"clone with ***", "home is /home/runner", "pw ***", "***"}
	if strings.Join(inner.got, "|") != strings.Join(want, "|") {
		t.Errorf("inner saw %q, want %q", inner.got, want)
	}
	if Sink(inner, New()) != inner {
		t.Error("an empty masker should not wrap the sink")
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"RUNBOOK_REPO_TOKEN": true, "github_token": true, "AWS_SECRET_ACCESS_KEY": true,
		"DB_Password": true, "SSH_KEY": true, "PATH": false, "HOME": false, "RUNBOOK_REPO_URL": false,
	} {
		if SecretName(name) != want {
			t.Errorf("SecretName(%q) = %v", name, !want)
		}
	}
}

// naive marks every byte covered by an occurrence of any pattern.
func naive(m *Masker, text []byte) string {
	covered := make([]bool, len(text))
	for _, p := range m.pats {
		for i := 0; i+len(p) <= len(text); i++ {
			if bytes.Equal(text[i:i+len(p)], p) {
				for j := i; j < i+len(p); j++ {
					covered[j] = true
				}
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if !covered[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		b.WriteString(Replacement)
		for i < len(text) && covered[i] {
			i++
		}
	}
	return b.String()
}

func TestPropertyNoSecretSurvives(t *testing.T) {
	// A small alphabet makes secrets overlap and recur often; '*' is left
	// out so that the replacement cannot spell a secret.
	alpha := rapid.SampledFrom([]byte("abcd:-_+/=%xyz"))
	rapid.Check(t, func(t *rapid.T) {
		secrets := rapid.SliceOfN(rapid.StringOfN(rapid.Custom(func(t *rapid.T) rune { return rune(alpha.Draw(t, "c")) }), 1, 12, -1), 1, 5).Draw(t, "secrets")
		parts := rapid.SliceOfN(rapid.StringOfN(rapid.Custom(func(t *rapid.T) rune { return rune(alpha.Draw(t, "c")) }), 0, 10, -1), 1, 8).Draw(t, "parts")
		var text strings.Builder
		for _, p := range parts {
			text.WriteString(p)
			text.WriteString(secrets[rapid.IntRange(0, len(secrets)-1).Draw(t, "which")])
		}
		m := New(secrets...)
		got := m.MaskString(text.String())
		for _, p := range m.pats {
			for _, piece := range strings.Split(got, Replacement) {
				if strings.Contains(piece, string(p)) {
					t.Fatalf("pattern %q survives in %q (from %q)", p, got, text.String())
				}
			}
		}
		if want := naive(m, []byte(text.String())); got != want {
			t.Fatalf("masked %q as %q, want %q", text.String(), got, want)
		}
	})
}

// TestBase64EdgesAreMasked is issue 13 item 4.10: a secret printed
// base64-encoded was masked as "***w==", leaving its last character (which
// encodes the secret's last bits) and the padding visible.
func TestBase64EdgesAreMasked(t *testing.T) {
	secret := "hunter2-secret"
	m := New(secret)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		for _, pre := range []string{"", "u:", "ab:"} {
			in := enc.EncodeToString([]byte(pre + secret))
			got := m.MaskString("Basic " + in + " end")
			keep := in[:8*len(pre)/6] // what encodes pre alone
			if want := "Basic " + keep + Replacement + " end"; got != want {
				t.Errorf("%q (after %q): got %q, want %q", in, pre, got, want)
			}
		}
	}
}

// TestPropertyBase64NeverLeaksTheSecret: for random secrets, random bytes
// around them, every base64 alphabet with and without padding, and random
// chunk splits of the output stream into lines, every character of the
// encoding that depends on the secret is masked, and so is the padding
// after it.
func TestPropertyBase64NeverLeaksTheSecret(t *testing.T) {
	encs := []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding}
	noise := rapid.SampledFrom([]byte(" ,;:()[]\t\"'"))
	rapid.Check(t, func(t *rapid.T) {
		secret := rapid.SliceOfN(rapid.Byte(), MinLen, 40).Draw(t, "secret")
		pre := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "pre")
		post := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "post")
		enc := encs[rapid.IntRange(0, len(encs)-1).Draw(t, "enc")]
		left := string(rapid.SliceOfN(noise, 0, 5).Draw(t, "left"))
		right := string(rapid.SliceOfN(noise, 1, 5).Draw(t, "right"))
		text := enc.EncodeToString(slices.Concat(pre, secret, post))
		stream := left + text + right + "\n"

		// The stream arrives in random chunks; lines are cut at '\n' as the
		// executors do, and each line is masked.
		m := New(string(secret))
		var out, line []byte
		for rest := []byte(stream); len(rest) > 0; {
			n := rapid.IntRange(1, len(rest)).Draw(t, "chunk")
			for _, c := range rest[:n] {
				if c == '\n' {
					out = append(append(out, m.Mask(line)...), '\n')
					line = line[:0:0]
					continue
				}
				line = append(line, c)
			}
			rest = rest[n:]
		}

		got := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(string(out), left), "\n"), right)
		if len(got) != len(out)-len(left)-len(right)-1 {
			t.Fatalf("the text around the encoding was changed: %q", out)
		}
		// Characters [a, b) of text depend on the secret's bits.
		a, b := 8*len(pre)/6, (8*(len(pre)+len(secret))+5)/6
		first, last := strings.Index(got, Replacement), strings.LastIndex(got, Replacement)
		if first < 0 {
			t.Fatalf("not masked: %q", got)
		}
		head, tail, mid := got[:first], got[last+len(Replacement):], got[first:last]
		if !strings.HasPrefix(text[:a], head) {
			t.Fatalf("%q: kept %q before the mask, more than %q", text, head, text[:a])
		}
		if !strings.HasSuffix(text[b:], tail) || len(post) == 0 && tail != "" {
			t.Fatalf("%q: kept %q after the mask (the secret's characters end at %d)", text, tail, b)
		}
		if strings.Trim(mid, "*") != "" && strings.Count(text[:a]+text[b:], mid) == 0 {
			t.Fatalf("%q: kept %q inside the masked stretch", text, got)
		}
	})
}

// TestJSONEscapedFormIsMasked: a secret with quotes, backslashes or HTML
// characters printed inside JSON is masked in its escaped form.
func TestJSONEscapedFormIsMasked(t *testing.T) {
	secret := `pa"ss\wo<rd>&1`
	m := New(secret)
	for _, in := range []string{`{"password":"pa\"ss\\wo\u003crd\u003e\u00261"}`, `{"password":"pa\"ss\\wo<rd>&1"}`} {
		if got := m.MaskString(in); got != `{"password":"***"}` {
			t.Errorf("%s masked as %s", in, got)
		}
	}
}
