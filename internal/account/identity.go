package account

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/runbookhq/runbook/internal/forge"
	"github.com/runbookhq/runbook/internal/store"
)

// usernameTries bounds the suffixes tried for a taken login (octocat,
// octocat-2, ...) before giving up.
const usernameTries = 20

// LoginWithIdentity logs in through a provider identity, following
// forge.DecideLink: a linked identity logs into its account whatever its
// login or email is now; an unlinked one joins the account holding the
// same email only when both sides verified it; otherwise a new account
// (and its personal tenant) is created, named after the provider login.
func (s *Service) LoginWithIdentity(ctx context.Context, id forge.Identity) (User, Tokens, error) {
	if id.Provider == "" || id.UserID <= 0 {
		return User{}, Tokens{}, fmt.Errorf("%w: a provider identity needs a provider and a numeric user id", ErrInvalid)
	}
	for attempt := 0; ; attempt++ {
		u, err := s.resolveIdentity(ctx, id)
		if errors.Is(err, ErrIdentityLinked) && attempt == 0 {
			continue // a concurrent login linked it: now it is LoginLinked
		}
		if err != nil {
			return User{}, Tokens{}, err
		}
		t, err := s.startSession(ctx, u.ID)
		if err != nil {
			return User{}, Tokens{}, err
		}
		s.log.InfoContext(ctx, "login", "user_id", u.ID, "provider", id.Provider)
		return u, t, nil
	}
}

func (s *Service) resolveIdentity(ctx context.Context, id forge.Identity) (User, error) {
	linked, err := s.repo.IdentityUser(ctx, id.Provider, id.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return User{}, err
	}
	email := normalize(id.Email)
	var same []forge.Account
	if linked == 0 && email != "" {
		users, err := s.repo.UsersByEmail(ctx, email)
		if err != nil {
			return User{}, err
		}
		for _, u := range users {
			same = append(same, forge.Account{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified})
		}
	}
	d, err := forge.DecideLink(id, linked, same)
	if err != nil {
		return User{}, err
	}
	link := Identity{Provider: id.Provider, ProviderUserID: id.UserID, Login: id.Login, Email: email, LinkedAt: s.now()}
	switch d.Action {
	case forge.LoginLinked:
		if err := s.repo.UpdateIdentity(ctx, id.Provider, id.UserID, id.Login, email); err != nil {
			return User{}, err
		}
		return s.repo.UserByID(ctx, d.AccountID)
	case forge.LinkByEmail:
		link.UserID = d.AccountID
		if err := s.repo.LinkIdentity(ctx, link); err != nil {
			return User{}, err
		}
		s.log.InfoContext(ctx, "identity linked by verified email", "user_id", d.AccountID, "provider", id.Provider)
		return s.repo.UserByID(ctx, d.AccountID)
	}
	return s.createForIdentity(ctx, link, normalize(d.Email))
}

// createForIdentity creates an account named after the provider login,
// with a numeric suffix when the name is taken.
func (s *Service) createForIdentity(ctx context.Context, link Identity, email string) (User, error) {
	base := usernameFrom(link.Login)
	for i := 1; i <= usernameTries; i++ {
		name := base
		if i > 1 {
			suffix := "-" + strconv.Itoa(i)
			name = strings.TrimRight(base[:min(len(base), 39-len(suffix))], "-") + suffix
		}
		u, err := s.createUser(ctx, NewUser{
			Username: name, Email: email, EmailVerified: email != "", Identity: &link, CreatedAt: s.now(),
		})
		if errors.Is(err, ErrUsernameTaken) {
			continue
		}
		if err != nil {
			return User{}, err
		}
		s.log.InfoContext(ctx, "account created", "user_id", u.ID, "username", u.Username, "provider", link.Provider)
		return u, nil
	}
	return User{}, fmt.Errorf("%w: the usernames %s to %s-%d are all taken; sign up with a password instead", store.ErrConflict, base, base, usernameTries)
}

// usernameFrom maps a provider login onto [a-z0-9-]{2,39}.
func usernameFrom(login string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(login) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == '_' || r == '.' || r == ' ':
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 39 {
		name = strings.TrimRight(name[:39], "-")
	}
	if len(name) < 2 { // "" or one character: nothing usable
		name = strings.TrimSuffix("user-"+name, "-")
	}
	return name
}
