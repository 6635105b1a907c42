package postgres_test

import (
	"testing"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/storetest"
)

func accountStorage(tb testing.TB) account.Repo { return storage(tb)(tb).(*postgres.Store) }

func TestAccounts(t *testing.T) {
	requireServer(t)
	storetest.RunAccounts(t, accountStorage)
}

func BenchmarkLogin(b *testing.B) {
	requireServer(b)
	storetest.BenchLogin(b, accountStorage)
}
