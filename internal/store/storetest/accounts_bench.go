package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/runbookhq/runbook/internal/account"
)

// BenchLogin measures failed logins with the default argon2id parameters:
// a wrong password and an unknown account should cost the same, or the
// time of a failure would tell which accounts exist.
func BenchLogin(b *testing.B, storage AccountStorage) {
	repo := storage(b)
	limit := account.Limit{Burst: 1 << 30, Per: 1} // measure hashing, not the limiter
	svc, err := account.New(repo, account.Config{Secret: testSecret, AccountLimit: limit, IPLimit: limit})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.SignUp(ctx, "bench@example.com", "bench", "the right password"); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, who string }{{"WrongPassword", "bench"}, {"UnknownUser", "nobody"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.Login(ctx, c.who, "a wrong password", "192.0.2.1"); !errors.Is(err, account.ErrBadCredentials) {
					b.Fatalf("Login: %v", err)
				}
			}
		})
	}
}
