package main

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store"
	"github.com/runbookhq/runbook/internal/store/sqlite"
)

// A --github-default-tenant that names no tenant is refused at start,
// whether it is a number or a name: accepted, every push would be answered
// 202 and then fail in the background.
func TestGitHubDefaultTenantMustExist(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, account.NewUser{Username: "ops", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}

	for _, v := range []string{strconv.FormatInt(u.TenantID, 10), "ops", "OPS"} {
		got, err := resolveTenant(ctx, st, v)
		if err != nil || got != u.TenantID {
			t.Errorf("resolveTenant(%q) = %d, %v; want tenant %d", v, got, err, u.TenantID)
		}
	}
	for _, v := range []string{strconv.FormatInt(u.TenantID+4242, 10), "nobody", ""} {
		got, err := resolveTenant(ctx, st, v)
		if err == nil {
			t.Errorf("resolveTenant(%q) = %d, want an error", v, got)
			continue
		}
		if v != "" && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("resolveTenant(%q): %v, want it to wrap store.ErrNotFound", v, err)
		}
		t.Logf("%q: %v", v, err)
	}
}
