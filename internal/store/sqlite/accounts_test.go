package sqlite_test

import (
	"testing"

	"github.com/runbookhq/runbook/internal/account"
	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/store/storetest"
)

func accountStorage(tb testing.TB) account.Repo { return storage(tb)(tb).(*sqlite.Store) }

func TestAccounts(t *testing.T) { storetest.RunAccounts(t, accountStorage) }

func BenchmarkLogin(b *testing.B) { storetest.BenchLogin(b, accountStorage) }
