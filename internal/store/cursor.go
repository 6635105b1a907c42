package store

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

const cursorPrefix = "run:"

// EncodeCursor makes the opaque cursor that resumes a list after runID.
func EncodeCursor(runID int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(runID, 10)))
}

// DecodeCursor returns the run id a cursor resumes after; 0 for "".
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	s, ok := strings.CutPrefix(string(b), cursorPrefix)
	if err != nil || !ok {
		return 0, fmt.Errorf("%w: cursor %q was not returned by a list: start again without a cursor", ErrInvalid, c)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: cursor %q was not returned by a list: start again without a cursor", ErrInvalid, c)
	}
	return id, nil
}

// Size checks p.Limit and returns the page size to use.
func (p Page) Size() (int, error) {
	switch {
	case p.Limit < 0:
		return 0, fmt.Errorf("%w: page limit %d is negative", ErrInvalid, p.Limit)
	case p.Limit == 0:
		return DefaultLimit, nil
	}
	return min(p.Limit, MaxLimit), nil
}
