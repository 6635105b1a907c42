// Command runbook is the one Runbook binary; its subcommands are its run modes.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code out of a subcommand.
type exitError struct {
	code int
	err  error // already printed when nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func main() {
	root := newRoot()
	// Inside a step, `repo_cloner` is a symlink to this binary.
	if filepath.Base(os.Args[0]) == "repo_cloner" {
		root.SetArgs(append([]string{"repo_cloner"}, os.Args[1:]...))
	}
	err := root.Execute()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			os.Exit(code)
		}
	}
	fmt.Fprintln(os.Stderr, "runbook:", err)
	os.Exit(code)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "runbook",
		Short:         "Runbook runs .runbook.yml workflows: a DAG of shell steps",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newValidateCmd(), newVersionCmd(), newRepoClonerCmd(), newServerCmd(), newMigrateCmd(), newWorkerCmd())
	root.AddCommand(newStepExecCmd())
	root.AddCommand(newDocsGenCmd())
	return root
}
