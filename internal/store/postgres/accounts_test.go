package postgres_test

import (
	"testing"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/storetest"
	"github.com/runbookhq/runbook/internal/testdb"
)

func accountStorage(tb testing.TB) account.Repo { return storage(tb)(tb).(*postgres.Store) }

func TestAccounts(t *testing.T) {
	testdb.Require(t)
	storetest.RunAccounts(t, accountStorage)
}

func BenchmarkLogin(b *testing.B) {
	testdb.Require(b)
	storetest.BenchLogin(b, accountStorage)
}
