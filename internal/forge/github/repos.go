package github

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"

	gh "github.com/google/go-github/v93/github"

	"github.com/runbookhq/runbook/internal/workflow"
)

// Repo is a repository an installation can reach.
type Repo struct {
	ID            int64
	Owner, Name   string
	FullName      string
	DefaultBranch string
	CloneURL      string
	Private       bool
}

// WorkflowFile is the name Runbook reads at the repository root.
const WorkflowFile = ".runbook.yml"

// withToken calls fn with a client of installation id; when GitHub
// refuses a cached token (revoked early), it fetches a new one and
// tries once more.
func (a *App) withToken(ctx context.Context, id int64, scope Scope, fn func(c *gh.Client, tok string) error) error {
	for attempt := 0; ; attempt++ {
		it, err := a.InstallationToken(ctx, id, scope)
		if err != nil {
			return err
		}
		err = fn(a.client(it.Token.Reveal()), it.Token.Reveal())
		if code, _ := status(err); code == http.StatusUnauthorized && attempt == 0 {
			a.forget(id, scope)
			continue
		}
		return err
	}
}

// ListInstallationRepos lists every repository of an installation, 100 per
// call (GitHub's maximum): one request per page, never one per repository.
func (a *App) ListInstallationRepos(ctx context.Context, installationID int64) ([]Repo, error) {
	var out []Repo
	err := a.withToken(ctx, installationID, Scope{}, func(c *gh.Client, tok string) error {
		out = out[:0]
		opt := &gh.ListOptions{PerPage: 100}
		for {
			page, resp, err := c.Apps.ListRepos(ctx, opt)
			if err != nil {
				if code, _ := status(err); code == http.StatusUnauthorized {
					return err
				}
				return unavailable("GET /installation/repositories", err, tok)
			}
			for _, r := range page.Repositories {
				out = append(out, Repo{ID: r.GetID(), Owner: r.GetOwner().GetLogin(), Name: r.GetName(),
					FullName: r.GetFullName(), DefaultBranch: r.GetDefaultBranch(), CloneURL: r.GetCloneURL(), Private: r.GetPrivate()})
			}
			if resp.NextPage == 0 {
				return nil
			}
			opt.Page = resp.NextPage
		}
	})
	return out, err
}

// FetchWorkflow reads .runbook.yml at the repository root at exactly the
// commit sha, with a token narrowed to that repository and contents:read.
// A missing file is ErrNoWorkflow ("no .runbook.yml at <sha>"). A file over
// workflow.MaxFileSize is returned cut one byte past the limit, so that
// workflow.Parse reports its size.
func (a *App) FetchWorkflow(ctx context.Context, installationID int64, owner, repo, sha string) ([]byte, error) {
	var out []byte
	err := a.withToken(ctx, installationID, ReadRepo(repo), func(c *gh.Client, tok string) error {
		fc, _, _, err := c.Repositories.GetContents(ctx, owner, repo, WorkflowFile, &gh.RepositoryContentGetOptions{Ref: sha})
		switch code, _ := status(err); {
		case code == http.StatusNotFound:
			return noWorkflow(sha)
		case code == http.StatusUnauthorized:
			return err
		case err != nil:
			return unavailable("GET contents/"+WorkflowFile, err, tok)
		case fc == nil || fc.GetType() != "file":
			return &AppError{Kind: ErrNoWorkflow, Msg: fmt.Sprintf("no .runbook.yml at %s: it is a %s, not a file", sha, typeOf(fc))}
		}
		switch fc.GetEncoding() {
		case "base64":
			text, err := fc.GetContent() // base64 with line breaks, which the decoder skips
			if err != nil {
				return unavailable("decoding contents/"+WorkflowFile, err, tok)
			}
			out = []byte(text)
			return nil
		case "none", "": // over 1 MB: GitHub sends no content in JSON; ask for the raw bytes
			b, err := rawContents(ctx, c, owner, repo, sha)
			if err != nil {
				if code, _ := status(err); code == http.StatusUnauthorized {
					return err
				}
				return unavailable("GET raw contents/"+WorkflowFile, err, tok)
			}
			out = b
			return nil
		}
		return unavailable("GET contents/"+WorkflowFile, fmt.Errorf("unknown encoding %q", fc.GetEncoding()), tok)
	})
	return out, err
}

func rawContents(ctx context.Context, c *gh.Client, owner, repo, sha string) ([]byte, error) {
	u := fmt.Sprintf("repos/%s/%s/contents/%s?ref=%s", url.PathEscape(owner), url.PathEscape(repo), WorkflowFile, url.QueryEscape(sha))
	req, err := c.NewRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github.raw+json")
	var buf limitedBuffer
	buf.limit = workflow.MaxFileSize + 1
	if _, err := c.Do(req, &buf); err != nil {
		return nil, err
	}
	return buf.buf.Bytes(), nil
}

// limitedBuffer keeps the first limit bytes written and drops the rest.
// It has no ReadFrom, so that io.Copy goes through Write.
type limitedBuffer struct {
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.buf.Len(); room < len(p) {
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func typeOf(fc *gh.RepositoryContent) string {
	if fc == nil {
		return "directory"
	}
	return fc.GetType()
}
