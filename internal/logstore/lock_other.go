//go:build !unix

package logstore

import (
	"fmt"
	"os"
)

// lockDir on systems without flock only creates the lock file: running two
// stores on one directory there is not detected.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logstore: lock log directory: %w", err)
	}
	return f, nil
}
