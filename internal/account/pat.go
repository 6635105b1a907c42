package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/runbookhq/runbook/internal/store"
)

const maxPATName = 100

// CreatePAT makes a personal access token for the CLI and the API. The
// token is returned once and stored only as its SHA-256. A zero expiresAt
// never expires.
func (s *Service) CreatePAT(ctx context.Context, userID int64, name string, expiresAt time.Time) (string, PAT, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxPATName {
		return "", PAT{}, fmt.Errorf("%w: a token needs a name of 1 to %d characters, saying what uses it", ErrInvalid, maxPATName)
	}
	now := s.now()
	if !expiresAt.IsZero() && !expiresAt.After(now) {
		return "", PAT{}, fmt.Errorf("%w: the token's expiry %s is in the past", ErrInvalid, expiresAt.Format(time.RFC3339))
	}
	token := PATPrefix + randomToken(32)
	p := PAT{UserID: userID, Name: name, Hint: token[:len(PATPrefix)+4], CreatedAt: now}
	if !expiresAt.IsZero() {
		p.ExpiresAt = expiresAt.UTC().Truncate(time.Microsecond)
	}
	p, err := s.repo.CreatePAT(ctx, p, tokenHash(token))
	if err != nil {
		return "", PAT{}, err
	}
	s.log.InfoContext(ctx, "personal access token created", "user_id", userID, "pat_id", p.ID)
	return token, p, nil
}

// PATs lists the user's tokens, without their secrets.
func (s *Service) PATs(ctx context.Context, userID int64) ([]PAT, error) {
	return s.repo.PATs(ctx, userID)
}

// RevokePAT revokes one of the user's tokens. Another user's token is
// store.ErrNotFound.
func (s *Service) RevokePAT(ctx context.Context, userID, patID int64) error {
	if err := s.repo.RevokePAT(ctx, userID, patID, s.now()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "personal access token revoked", "user_id", userID, "pat_id", patID)
	return nil
}

func (s *Service) authenticatePAT(ctx context.Context, token string) (Principal, error) {
	p, err := s.repo.PATByHash(ctx, tokenHash(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, errTokenInvalid
	case err != nil:
		return Principal{}, err
	case !p.RevokedAt.IsZero():
		return Principal{}, errTokenRevoked
	case !p.ExpiresAt.IsZero() && !s.now().Before(p.ExpiresAt):
		return Principal{}, errTokenExpired
	}
	u, err := s.repo.UserByID(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errTokenRevoked
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{UserID: u.ID, Username: u.Username, Via: ViaPAT, PATID: p.ID}, nil
}
