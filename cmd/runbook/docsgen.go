package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/runbookhq/runbook/internal/docgen"
)

// docEnv are the settings read from the environment that are not flags.
var docEnv = []docgen.EnvVar{
	{Name: githubAppKeyEnv, Commands: "`runbook server`", Description: "The GitHub App's private key itself (the PEM, line breaks included), instead of --github-app-key-file; not a flag, because a process's arguments are readable by every user of the machine."},
	{Name: "NO_COLOR", Commands: "`runbook run`", Description: "Any value turns colour off, as --color never does."},
}

// newDocsGenCmd writes the generated pages of the documentation site
// (docs/reference/*, docs/troubleshooting.md). Hidden: it is for people
// working on Runbook, who run it from the repository's root.
func newDocsGenCmd() *cobra.Command {
	var root string
	var check bool
	cmd := &cobra.Command{
		Use:    "docs-gen",
		Short:  "Write the generated reference pages under docs/",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pages, err := docgen.Pages(root, newRoot(), docEnv)
			if err != nil {
				return err
			}
			if check {
				if stale := docgen.Stale(root, pages); len(stale) > 0 {
					return docgen.StaleError(stale)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "generated documentation is up to date")
				return nil
			}
			if err := docgen.Write(root, pages); err != nil {
				return err
			}
			for _, name := range docgen.Stale(root, pages) {
				return fmt.Errorf("%s was written but reads back different", name)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files\n", len(pages))
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", ".", "the repository's root")
	cmd.Flags().BoolVar(&check, "check", false, "only check that the files are up to date (exit 1 when not)")
	return cmd
}
