package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/runbookhq/runbook/internal/cloner"
	"github.com/spf13/cobra"
)

func newRepoClonerCmd() *cobra.Command {
	var depth int
	var ref, dir string
	cmd := &cobra.Command{
		Use:   "repo_cloner",
		Short: "Inside a step: clone the run's repository with the run's short-lived token",
		Long: `repo_cloner clones the repository that triggered the run, at the run's
commit, into ./<repo-name>. It is on every step's PATH. It needs a run started
from a forge (GitHub or GitLab), which hands the step the repository
(RUNBOOK_REPO_URL, RUNBOOK_REPO_SHA, RUNBOOK_REPO_REF) and a short-lived token
(RUNBOOK_REPO_TOKEN). The token never reaches .git/config, git's command line
or the output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if depth < 0 {
				return &exitError{code: 2, err: errors.New("repo_cloner: --depth must be 0 (all history) or more")}
			}
			o := cloner.FromEnv(os.Getenv)
			o.Depth, o.Ref, o.Dir, o.Stderr = depth, ref, dir, cmd.ErrOrStderr()
			res, err := cloner.Clone(cmd.Context(), o)
			if err != nil {
				code := 1
				if errors.Is(err, cloner.ErrNoRepo) || errors.Is(err, cloner.ErrBadTarget) {
					code = 2
				}
				return &exitError{code: code, err: fmt.Errorf("repo_cloner: %w", err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "repo_cloner: %s at %s in %s\n", o.URL, res.SHA, res.Dir)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&depth, "depth", 1, "commits of history to fetch; 0 fetches all")
	fl.StringVar(&ref, "ref", "", "a branch, tag or full commit SHA to check out instead of the run's commit")
	fl.StringVar(&dir, "dir", "", "directory to clone into (default: the repository's name)")
	return cmd
}
