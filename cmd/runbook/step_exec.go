package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runbookhq/runbook/internal/executor/kubernetes/stepexec"
)

func newStepExecCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "step-exec -- COMMAND",
		Short: "Inside a step's container: run COMMAND with bash and frame its stdout and stderr apart",
		Long: `step-exec is the entrypoint of a step's container on Kubernetes. It runs
COMMAND (the words after --, joined with spaces) with
bash --noprofile --norc -e -o pipefail -c, writes each line of its stdout and
stderr to its own stdout as a record that names the stream, and exits with
the command's exit code (128+N when signal N killed it). SIGTERM and SIGINT
are passed on to the command's process group.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return &exitError{code: 2, err: fmt.Errorf("step-exec: put the command after --, as in: runbook step-exec -- 'make test'")}
			}
			code := stepexec.Run(cmd.Context(), strings.Join(args, " "), cmd.OutOrStdout())
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
}
