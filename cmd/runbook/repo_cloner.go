package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
)

func newRepoClonerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "repo_cloner",
		Short: "Inside a step: clone the run's repository with the run's short-lived token",
		Long: `repo_cloner clones the repository that triggered the run into ./<repo-name>.
It is on every step's PATH. It needs a run started from a forge (GitHub or
GitLab), which hands the step the repository and a short-lived token.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("RUNBOOK_REPO_URL") == "" {
				return &exitError{code: 2, err: errors.New("repo_cloner: this run has no repository to clone (RUNBOOK_REPO_URL is not set): " +
					"runs started with `runbook run` or an uploaded file have none; runs triggered from GitHub or GitLab do")}
			}
			return &exitError{code: 2, err: errors.New("repo_cloner: cloning from a forge is not available in this build yet")}
		},
	}
}
