package docgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestErrorMessages(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "p"), 0o755)
	src := "package p\n" +
		"import (\"errors\"; \"fmt\")\n" +
		"type E struct{ Msg string }\n" +
		"const env = \"X\"\n" +
		"func f(n int) error {\n" +
		"	bad := func(s string) error { return nil }\n" +
		"	_ = bad(\"is broken beyond repair\")\n" +
		"	_ = &E{Msg: fmt.Sprintf(\"installation %d was removed\", n)}\n" +
		"	_ = errors.New(\"needs a value in \" + env + \" somewhere\")\n" +
		"	_ = fmt.Errorf(\"%w\", nil)\n" +
		"	return fmt.Errorf(\"--flag %q: want 100%% of it\", n)\n" +
		"}\n"
	os.WriteFile(filepath.Join(dir, "p", "p.go"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "p", "p_test.go"), []byte("package p\nimport \"errors\"\nvar e = errors.New(\"only in a test file\")\n"), 0o644)
	msgs, err := ErrorMessages(dir, "p", map[string]string{"bad": "the key … "})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Text+" @"+m.File)
	}
	want := []string{
		"the key … is broken beyond repair @p/p.go",
		"installation … was removed @p/p.go",
		"needs a value in … somewhere @p/p.go",
		"--flag …: want 100% of it @p/p.go",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTroubleshootingPage: the page lists the start-up errors of the real
// source, with advice, and every piece of advice still matches a message.
func TestTroubleshootingPage(t *testing.T) {
	page, err := TroubleshootingPage("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--secret is … bytes; it must be at least …", "Give `--secret`", "GitHub App private key … is empty"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
