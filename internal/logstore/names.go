package logstore

import (
	"crypto/sha256"
	"encoding/hex"
)

// nameHash turns any string into a fixed, path-safe file name. 128 bits make
// an accidental collision practically impossible; the data file's header
// still holds the real key and is checked on open.
func nameHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}
