//go:build unix

package logstore

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive lock that lives as long as the returned file
// (and the process): a second Store on the same directory is refused.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logstore: lock log directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("logstore: %s is in use by another log store (another runbook process?): %w", path, err)
	}
	return f, nil
}
