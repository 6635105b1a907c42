package forge

import (
	"errors"
	"fmt"
	"strings"
)

// LinkAction is what the account service does with an identity at login.
type LinkAction int

const (
	// LoginLinked: the identity is already linked; log into that account,
	// whatever its email or login says today.
	LoginLinked LinkAction = iota + 1
	// LinkByEmail: link the identity to the existing account AccountID, which
	// holds the same email, verified on both sides; then log into it.
	LinkByEmail
	// CreateAccount: create a new account for the identity. Its email is
	// LinkDecision.Email, which is set only when verified and free.
	CreateAccount
)

// Account is what DecideLink needs to know of an existing account.
type Account struct {
	ID            int64
	Email         string
	EmailVerified bool // the account proved it owns Email (to Runbook, or through a linked provider)
}

// LinkDecision is DecideLink's answer.
type LinkDecision struct {
	Action    LinkAction
	AccountID int64  // for LoginLinked and LinkByEmail
	Email     string // for CreateAccount: the verified email the new account may hold, or ""
}

// Errors of DecideLink; their texts can be shown to the user.
var (
	ErrEmailNotVerifiedHere = errors.New("an account with this email exists but has not verified it; log in to that account, verify its email, then connect the provider from its settings")
	ErrEmailAmbiguous       = errors.New("several accounts hold this email; log in to the right one and connect the provider from its settings")
)

// DecideLink is the linking rule, with no I/O. linkedID is the account
// already linked to (id.Provider, id.UserID), or 0; sameEmail are the
// accounts whose email equals id.Email (case-insensitively; others are
// ignored).
//
// The rule: an identity is keyed on the provider's numeric user id, so a
// linked identity always logs into its account. An unlinked identity joins
// an existing account only through an email that the provider marks
// verified AND that the account has verified too: otherwise anyone could
// add a victim's address to a provider account, or sign up here with it
// unverified, and take over the other side. An unverified email never
// links and is never given to a new account.
func DecideLink(id Identity, linkedID int64, sameEmail []Account) (LinkDecision, error) {
	if linkedID != 0 {
		return LinkDecision{Action: LoginLinked, AccountID: linkedID}, nil
	}
	email := strings.TrimSpace(id.Email)
	if !id.EmailVerified || email == "" {
		return LinkDecision{Action: CreateAccount}, nil
	}
	var verified, unverified []int64
	for _, a := range sameEmail {
		if !strings.EqualFold(strings.TrimSpace(a.Email), email) {
			continue
		}
		if a.EmailVerified {
			verified = append(verified, a.ID)
		} else {
			unverified = append(unverified, a.ID)
		}
	}
	switch {
	case len(verified) == 1 && len(unverified) == 0:
		return LinkDecision{Action: LinkByEmail, AccountID: verified[0]}, nil
	case len(verified) > 1 || (len(verified) == 1 && len(unverified) > 0):
		return LinkDecision{}, fmt.Errorf("%s login: %w", id.Provider, ErrEmailAmbiguous)
	case len(unverified) > 0:
		return LinkDecision{}, fmt.Errorf("%s login: %w", id.Provider, ErrEmailNotVerifiedHere)
	}
	return LinkDecision{Action: CreateAccount, Email: email}, nil
}
