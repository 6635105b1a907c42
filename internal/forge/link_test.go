package forge

import (
	"errors"
	"testing"
)

func TestDecideLink(t *testing.T) {
	verified := Identity{Provider: "github", UserID: 9, Email: "Bob@Example.com", EmailVerified: true}
	unverified := verified
	unverified.EmailVerified = false
	bob := Account{ID: 1, Email: "bob@example.com", EmailVerified: true}
	bobUnverified := Account{ID: 2, Email: "bob@example.com"}
	other := Account{ID: 3, Email: "carol@example.com", EmailVerified: true}

	cases := []struct {
		name      string
		id        Identity
		linked    int64
		sameEmail []Account
		want      LinkDecision
		wantErr   error
	}{
		{"linked wins over any email", unverified, 5, []Account{bob}, LinkDecision{Action: LoginLinked, AccountID: 5}, nil},
		{"verified on both sides links", verified, 0, []Account{bob}, LinkDecision{Action: LinkByEmail, AccountID: 1}, nil},
		{"unverified identity never links", unverified, 0, []Account{bob}, LinkDecision{Action: CreateAccount}, nil},
		{"unverified account is not taken over", verified, 0, []Account{bobUnverified}, LinkDecision{}, ErrEmailNotVerifiedHere},
		{"two holders are refused", verified, 0, []Account{bob, bobUnverified}, LinkDecision{}, ErrEmailAmbiguous},
		{"other emails are ignored", verified, 0, []Account{other}, LinkDecision{Action: CreateAccount, Email: "Bob@Example.com"}, nil},
		{"free verified email goes to the new account", verified, 0, nil, LinkDecision{Action: CreateAccount, Email: "Bob@Example.com"}, nil},
		{"no email", Identity{Provider: "gitlab", UserID: 9, EmailVerified: true}, 0, []Account{{ID: 4, EmailVerified: true}}, LinkDecision{Action: CreateAccount}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecideLink(c.id, c.linked, c.sameEmail)
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if got != c.want {
				t.Fatalf("decision = %+v, want %+v", got, c.want)
			}
		})
	}
}
