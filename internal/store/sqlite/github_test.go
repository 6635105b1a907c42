package sqlite_test

import (
	"testing"

	"github.com/runbookhq/runbook/internal/store/sqlite"
	"github.com/runbookhq/runbook/internal/store/storetest"
)

func TestGitHub(t *testing.T) {
	storetest.RunGitHub(t, func(tb testing.TB) storetest.GitHubRepo { return storage(tb)(tb).(*sqlite.Store) })
}
