package docgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ADRIndex lists docs/adr/NNNN-*.md under root with their titles.
func ADRIndex(root string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(root, "docs", "adr", "[0-9][0-9][0-9][0-9]-*.md"))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Decisions\n\n")
	b.WriteString("<!-- Generated from docs/adr/*.md by `go run ./cmd/runbook docs-gen`; do not edit. -->\n\n")
	b.WriteString("Each architecture decision record says what was decided, why, and what was measured. New ones take the next free number.\n\n")
	for _, f := range files {
		title, err := firstHeading(f)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "- [%s](%s)\n", title, filepath.Base(f))
	}
	return b.Bytes(), nil
}

func firstHeading(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t, ok := strings.CutPrefix(sc.Text(), "# "); ok {
			return strings.TrimSpace(t), nil
		}
	}
	return "", fmt.Errorf("%s has no # title", path)
}
