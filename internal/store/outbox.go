package store

import (
	"cmp"
	"fmt"
	"time"
)

// CheckClaim validates ClaimCommands' arguments.
func CheckClaim(owner string, limit int, lease time.Duration) error {
	switch {
	case owner == "":
		return fmt.Errorf("%w: a claim needs an owner name, so leases can be told apart", ErrInvalid)
	case limit <= 0:
		return fmt.Errorf("%w: claim limit %d must be positive", ErrInvalid, limit)
	case lease <= 0:
		return fmt.Errorf("%w: lease %v must be positive", ErrInvalid, lease)
	}
	return nil
}

// CompareCommands orders commands oldest first, as ClaimCommands returns them.
func CompareCommands(a, b Command) int {
	return cmp.Or(a.AvailableAt.Compare(b.AvailableAt), cmp.Compare(a.ID, b.ID))
}

// OwnershipError explains why an update of command id by owner matched
// nothing, given who holds it and whether it is done. It is nil when the
// command is done and doneOK (completing twice is harmless).
func OwnershipError(id int64, owner, holder string, done, doneOK bool) error {
	switch {
	case done && doneOK:
		return nil
	case done:
		return fmt.Errorf("%w: command %d is already done", ErrNotFound, id)
	case holder == "":
		return fmt.Errorf("%w: command %d is not claimed: claim it before completing it or extending its lease", ErrConflict, id)
	default:
		return fmt.Errorf("%w: command %d is now claimed by %q, not %q: its lease was lost, stop working on it", ErrConflict, id, holder, owner)
	}
}
