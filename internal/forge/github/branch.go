package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	gh "github.com/google/go-github/v93/github"
)

// ErrNoBranch: the repository has no such branch.
var ErrNoBranch = errors.New("no such branch")

// BranchHead returns the commit at the head of branch, for a run asked for
// by hand, with a token narrowed to the repository and contents:read.
func (a *App) BranchHead(ctx context.Context, installationID int64, owner, repo, branch string) (string, error) {
	var sha string
	err := a.withToken(ctx, installationID, ReadRepo(repo), func(c *gh.Client, tok string) error {
		// GetBranch answers errors as plain text with the response beside.
		b, resp, err := c.Repositories.GetBranch(ctx, owner, repo, branch, 1)
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		switch {
		case err == nil:
		case code == http.StatusNotFound:
			return &AppError{Kind: ErrNoBranch, Msg: fmt.Sprintf("%s/%s has no branch %q", owner, repo, branch)}
		case code == http.StatusUnauthorized:
			return &gh.ErrorResponse{Response: resp.Response, Message: "Bad credentials"}
		default:
			return unavailable("GET branches/"+branch, err, tok)
		}
		sha = b.GetCommit().GetSHA()
		return nil
	})
	return sha, err
}
