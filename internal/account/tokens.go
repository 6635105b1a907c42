package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/runbookhq/runbook/internal/store"
)

// Token prefixes make a leaked token recognisable (secret scanners) and
// tell Authenticate which kind it holds.
const (
	RefreshPrefix = "rbr_"
	PATPrefix     = "rbp_"
	issuer        = "runbook"
)

// randomToken is n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Errors of token checks; they wrap ErrUnauthenticated.
var (
	errTokenInvalid = fmt.Errorf("%w: the token is invalid; log in again", ErrUnauthenticated)
	errTokenExpired = fmt.Errorf("%w: the token has expired; refresh it or log in again", ErrUnauthenticated)
	errTokenRevoked = fmt.Errorf("%w: the token was revoked; log in again", ErrUnauthenticated)
)

// startSession issues an access token and a refresh token of a new family.
func (s *Service) startSession(ctx context.Context, userID int64) (Tokens, error) {
	return s.issue(ctx, userID, randomToken(16), nil)
}

// issue makes tokens for userID in family. With rotate set, the refresh
// token rotate replaces is marked used in the same write.
func (s *Service) issue(ctx context.Context, userID int64, family string, rotate []byte) (Tokens, error) {
	now := s.now()
	t := Tokens{
		AccessExpiresAt:  now.Add(s.accessTTL),
		RefreshToken:     RefreshPrefix + randomToken(32),
		RefreshExpiresAt: now.Add(s.refreshTTL),
	}
	claims := jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(t.AccessExpiresAt),
		ID:        randomToken(12),
	}
	var err error
	if t.AccessToken, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.secret); err != nil {
		return Tokens{}, fmt.Errorf("account: signing an access token: %w", err)
	}
	rt := RefreshToken{Hash: tokenHash(t.RefreshToken), Family: family, UserID: userID, IssuedAt: now, ExpiresAt: t.RefreshExpiresAt}
	if rotate == nil {
		err = s.repo.CreateRefreshToken(ctx, rt)
	} else {
		err = s.repo.RotateRefreshToken(ctx, rotate, rt, now)
	}
	if err != nil {
		return Tokens{}, err
	}
	return t, nil
}

// Authenticate returns who a bearer token (an access token or a personal
// access token, with or without "Bearer ") belongs to. Every failure wraps
// ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	token := strings.TrimSpace(bearer)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if strings.HasPrefix(token, PATPrefix) {
		return s.authenticatePAT(ctx, token)
	}
	// A token verified in the last principalTTL is not parsed again: JWT
	// parsing was most of an API request's CPU. The key is the token's
	// hash, so the cache holds no usable token.
	key := sha256.Sum256([]byte(token))
	if v, ok := s.verified.Get(key); ok && s.now().Before(v.expires) {
		return v.p, nil
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Principal{}, errTokenExpired
	case err != nil:
		return Principal{}, errTokenInvalid // the library's words may quote the token's parts
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil {
		return Principal{}, errTokenInvalid
	}
	if p, ok := s.principals.Get(id); ok {
		s.verified.Add(key, verifiedToken{p: p, expires: claims.ExpiresAt.Time})
		return p, nil
	}
	u, err := s.repo.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errTokenRevoked // the account is gone
	}
	if err != nil {
		return Principal{}, err
	}
	p := Principal{UserID: u.ID, Username: u.Username, Via: ViaAccessToken}
	s.principals.Add(id, p)
	s.verified.Add(key, verifiedToken{p: p, expires: claims.ExpiresAt.Time})
	return p, nil
}

// verifiedToken is a cached result of Authenticate for one access token.
type verifiedToken struct {
	p       Principal
	expires time.Time
}

// Refresh rotates a refresh token: it returns new tokens of the same family
// and the old one stops working. A refresh token used twice is a stolen
// one: the whole family is revoked, the newest token included, and
// ErrTokenReused returned.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	rt, err := s.refreshToken(ctx, refreshToken)
	if err != nil {
		return Tokens{}, err
	}
	if !rt.UsedAt.IsZero() {
		return Tokens{}, s.reused(ctx, rt)
	}
	t, err := s.issue(ctx, rt.UserID, rt.Family, rt.Hash)
	if errors.Is(err, store.ErrConflict) { // used by a concurrent Refresh
		return Tokens{}, s.reused(ctx, rt)
	}
	return t, err
}

// refreshToken looks a refresh token up and checks that it is live.
func (s *Service) refreshToken(ctx context.Context, token string) (RefreshToken, error) {
	if !strings.HasPrefix(token, RefreshPrefix) {
		return RefreshToken{}, errTokenInvalid
	}
	rt, err := s.repo.RefreshToken(ctx, tokenHash(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return RefreshToken{}, errTokenInvalid
	case err != nil:
		return RefreshToken{}, err
	case !rt.RevokedAt.IsZero():
		return RefreshToken{}, errTokenRevoked
	case !s.now().Before(rt.ExpiresAt):
		return RefreshToken{}, errTokenExpired
	}
	return rt, nil
}

func (s *Service) reused(ctx context.Context, rt RefreshToken) error {
	if err := s.repo.RevokeRefreshFamily(ctx, rt.Family, s.now()); err != nil {
		return fmt.Errorf("account: revoking a reused refresh token's sessions: %w", err)
	}
	s.log.WarnContext(ctx, "refresh token reused: its sessions were revoked", "user_id", rt.UserID)
	return ErrTokenReused
}

// Logout ends the session of a refresh token: its whole family is revoked.
// Access tokens already issued stay valid until they expire (AccessTTL).
// Logging out with a used token still revokes the family.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	rt, err := s.refreshToken(ctx, refreshToken)
	if errors.Is(err, errTokenRevoked) || errors.Is(err, errTokenExpired) {
		return nil // already over
	}
	if err != nil {
		return err
	}
	if err := s.repo.RevokeRefreshFamily(ctx, rt.Family, s.now()); err != nil {
		return fmt.Errorf("account: logging out: %w", err)
	}
	s.log.InfoContext(ctx, "logout", "user_id", rt.UserID)
	return nil
}
