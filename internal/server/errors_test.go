package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/internal/failure"
)

// Every entry of the error table answers its own error: an entry placed
// after a kind it wraps (a conflict before "username taken") would never
// be reached.
func TestErrorTableEntriesAreReachable(t *testing.T) {
	for i, e := range errorTable {
		wrapped := fmt.Errorf("context: %w", e.err)
		for j := range i {
			if errors.Is(wrapped, errorTable[j].err) && errorTable[j].errAnswer != e.errAnswer {
				t.Errorf("entry %d (%v) is shadowed by entry %d (%v)", i, e.err, j, errorTable[j].err)
			}
		}
	}
}

func TestFailAnswersFromTheTable(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	answerOf := func(fail func(http.ResponseWriter, *http.Request, error), err error) (int, apiError) {
		w := httptest.NewRecorder()
		fail(w, httptest.NewRequest("GET", "/x", nil), err)
		var body apiError
		if jerr := json.Unmarshal(w.Body.Bytes(), &body); jerr != nil {
			t.Fatalf("body %q: %v", w.Body, jerr)
		}
		return w.Code, body
	}
	missing := fmt.Errorf("%w: tenant 42", failure.ErrNotFound)
	if code, b := answerOf(s.fail, missing); code != 404 || b.Error.Code != "not_found" || b.Error.Message != "not found" {
		t.Errorf("a tenant's missing object: %d %+v, want 404 not_found saying only \"not found\"", code, b.Error)
	}
	if code, b := answerOf(s.failOperator, missing); code != 404 || !strings.Contains(b.Error.Message, "tenant 42") {
		t.Errorf("an operator's missing object: %d %+v, want 404 naming it", code, b.Error)
	}
	if code, b := answerOf(s.fail, failure.ErrEmailTaken); code != 409 || b.Error.Code != "conflict" || b.Error.Message != failure.ErrEmailTaken.Error() {
		t.Errorf("email taken: %d %+v, want 409 conflict with its words", code, b.Error)
	}
	if code, b := answerOf(s.fail, errors.New("connection refused: password=hunter2")); code != 500 || strings.Contains(b.Error.Message, "hunter2") {
		t.Errorf("an unknown error: %d %+v, want 500 without its words", code, b.Error)
	}
}
