package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check workflow files and print every problem",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			bad := 0
			for _, path := range args {
				wf, err := loadWorkflow(path)
				if err != nil {
					bad++
					var ee *exitError
					if errors.As(err, &ee) {
						err = ee.err
					}
					fmt.Fprintln(errOut, err)
					continue
				}
				fmt.Fprintf(out, "%s: ok (%d steps)\n", path, len(wf.Steps))
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d files have problems", bad, len(args))}
			}
			return nil
		},
	}
}
