package postgres_test

import (
	"testing"

	"github.com/runbookhq/runbook/internal/store/postgres"
	"github.com/runbookhq/runbook/internal/store/storetest"
	"github.com/runbookhq/runbook/internal/testdb"
)

func TestGitHub(t *testing.T) {
	testdb.Require(t)
	storetest.RunGitHub(t, func(tb testing.TB) storetest.GitHubRepo { return storage(tb)(tb).(*postgres.Store) })
}
