package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Every request body is read through declaredTooLarge and readBody.

// declaredTooLarge answers 413 when the request declares (Content-Length) a
// body over limit, before reading any of it. A client still sending then
// reads this answer instead of a reset connection, and one waiting on
// Expect: 100-continue is never invited to send (net/http sends the 100 on
// the handler's first read).
func declaredTooLarge(w http.ResponseWriter, r *http.Request, limit int64, msg string) bool {
	if r.ContentLength <= limit {
		return false
	}
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusRequestEntityTooLarge, "too_large", msg)
	return true
}

// readBody reads a body of at most limit bytes. When it returns false it
// has answered: 413 for a body declared or found too large, 400 when the
// body cannot be read.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, bool) {
	if declaredTooLarge(w, r, limit, tooLarge) {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", tooLarge)
		} else {
			writeError(w, http.StatusBadRequest, "bad_request", "reading the request body failed: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// maxJSONDepth bounds the nesting of a JSON body; ours nest two levels.
const maxJSONDepth = 32

// jsonTooDeep reports where a JSON text first nests deeper than max
// (counted outside strings), or -1. encoding/json's own limit is 10,000.
func jsonTooDeep(b []byte, max int) int {
	depth, inString, escaped := 0, false, false
	for i, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return i
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return -1
}

func bodyLimitMsg(limit int64) string {
	return fmt.Sprintf("the request body may be at most %d bytes", limit)
}
