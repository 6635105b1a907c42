package forge

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	got := Redact("code=abc123&secret=s3cr3t&x=abc123", "abc123", "", "s3cr3t")
	if got != "code=[redacted]&secret=[redacted]&x=[redacted]" {
		t.Fatalf("Redact = %q", got)
	}
	long := Redact(strings.Repeat("é", 400))
	if len(long) > 310 || !strings.HasSuffix(long, "…") || !strings.HasPrefix(long, "é") {
		t.Fatalf("long text not cut cleanly: %d bytes", len(long))
	}
}

func TestParseCallback(t *testing.T) {
	st, code, err := ParseCallback("github", url.Values{"state": {"S"}, "code": {"C"}})
	if err != nil || st != "S" || code != "C" {
		t.Fatalf("got %q %q %v", st, code, err)
	}
	if _, _, err := ParseCallback("github", url.Values{"error": {"access_denied"}}); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("access_denied: %v", err)
	}
	_, _, err = ParseCallback("gitlab", url.Values{"error": {"invalid_scope"}, "error_description": {"scope x unknown"}})
	var pe *ProviderError
	if !errors.As(err, &pe) || !errors.Is(err, ErrAuthorizeRejected) || !strings.Contains(err.Error(), "invalid_scope scope x unknown") {
		t.Fatalf("invalid_scope: %v", err)
	}
}
