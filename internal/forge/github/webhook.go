package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v93/github"
)

// MaxWebhookBody is the body size the webhook route should accept (with
// http.MaxBytesReader) before calling ParseWebhook. GitHub caps payloads at
// 25 MB and drops larger ones; the events Runbook acts on are a few KB,
// though a push of many commits or an installation of many repositories
// can reach hundreds of KB.
const MaxWebhookBody = 5 << 20

var (
	// ErrBadSignature: X-Hub-Signature-256 is missing, malformed, or not
	// the HMAC of this body with our secret. Answer 401 and do nothing.
	ErrBadSignature = errors.New("github webhook: bad signature")
	// ErrBadDelivery: the signature holds but the headers or JSON do not
	// make a delivery (answer 400).
	ErrBadDelivery = errors.New("github webhook: malformed delivery")
	// ErrNoWebhookSecret: no secret is configured, so nothing can be trusted.
	ErrNoWebhookSecret = errors.New("github webhook: no webhook secret is configured; set the GitHub App's webhook secret in Runbook and on GitHub")
)

// WebhookKind is what a delivery asks Runbook to do.
type WebhookKind string

const (
	KindPing                     WebhookKind = "ping"
	KindInstallation             WebhookKind = "installation"
	KindInstallationRepositories WebhookKind = "installation_repositories"
	KindPush                     WebhookKind = "push"
	KindPullRequest              WebhookKind = "pull_request"
	KindRerequest                WebhookKind = "rerequest" // check_suite or check_run rerequested
	KindIgnored                  WebhookKind = "ignored"
)

// Webhook is a verified delivery, reduced to what Runbook acts on. Exactly
// the field that Kind names is set (none for ping and ignored).
type Webhook struct {
	// Delivery is X-GitHub-Delivery: the same on every redelivery, so the
	// store's idempotency key. Parsing is pure; deduplicating is the store's.
	Delivery string
	Event    string // X-GitHub-Event
	Action   string // the payload's action, "" for push and ping
	Kind     WebhookKind
	// Ignored says why Runbook does nothing, when Kind is KindIgnored.
	Ignored        string
	InstallationID int64

	Installation *InstallationChange
	Push         *Push
	PullRequest  *PullRequest
	Rerequest    *Rerequest
}

// InstallationChange is an installation or installation_repositories event.
// Action is created, deleted, suspend, unsuspend, added or removed.
type InstallationChange struct {
	Action  string
	Account string // the user or organisation that installed the app
	// Repos is the installation's repositories as listed by an
	// installation event; GitHub may omit them for large installations,
	// so list them with the API on created.
	Repos          []Repo
	Added, Removed []Repo // installation_repositories
}

// Push is a push of a branch or tag that still exists.
type Push struct {
	Repo        Repo
	Ref         string // refs/heads/main
	Branch, Tag string // one of them, from Ref
	Before      string
	After       string // the commit to run
	Forced      bool
	Created     bool
}

// PullRequest is a pull request opened, reopened or pushed to.
type PullRequest struct {
	Repo     Repo // the base repository, where runs and checks belong
	Number   int
	HeadSHA  string // the commit to run
	HeadRef  string
	BaseRef  string
	FromFork bool // the head lives in another repository
}

// Rerequest asks to run a commit again from the checks UI.
type Rerequest struct {
	Repo       Repo
	HeadSHA    string
	HeadBranch string
	CheckRunID int64  // 0 for a whole check suite
	ExternalID string // our run id, as set on the check run, when any
}

// ParseWebhook verifies a delivery and parses it. body must be the raw
// bytes received, already bounded by the caller (MaxWebhookBody). Events
// Runbook does not act on are not errors: they come back as KindIgnored
// with the reason.
func ParseWebhook(secret []byte, headers http.Header, body []byte) (Webhook, error) {
	if len(secret) == 0 {
		return Webhook{}, ErrNoWebhookSecret
	}
	if err := checkSignature(secret, headers.Get("X-Hub-Signature-256"), body); err != nil {
		return Webhook{}, err
	}
	w := Webhook{Delivery: headers.Get("X-GitHub-Delivery"), Event: headers.Get("X-GitHub-Event")}
	if w.Delivery == "" || w.Event == "" {
		return Webhook{}, fmt.Errorf("%w: X-GitHub-Delivery and X-GitHub-Event are required", ErrBadDelivery)
	}
	ev, err := gh.ParseWebHook(w.Event, body)
	if err != nil {
		if strings.Contains(err.Error(), "unknown X-Github-Event") {
			return w.ignore("event " + w.Event + " is not one Runbook acts on"), nil
		}
		return Webhook{}, fmt.Errorf("%w: %s payload: %v", ErrBadDelivery, w.Event, err)
	}
	return w.parse(ev), nil
}

func checkSignature(secret []byte, header string, body []byte) error {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: X-Hub-Signature-256 is missing or not sha256=<hex>", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: X-Hub-Signature-256 is not 64 hex digits", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: it does not match the body; check that the webhook secret is the same on GitHub and in Runbook", ErrBadSignature)
	}
	return nil
}

func (w Webhook) ignore(why string) Webhook {
	w.Kind, w.Ignored = KindIgnored, "ignored: "+why
	return w
}

func (w Webhook) ignoreAction() Webhook {
	return w.ignore(fmt.Sprintf("event %s action %s", w.Event, w.Action))
}

func (w Webhook) parse(ev any) Webhook {
	switch e := ev.(type) {
	case *gh.PingEvent:
		w.Kind = KindPing
		w.InstallationID = e.GetInstallation().GetID()
	case *gh.InstallationEvent:
		w.Action, w.InstallationID = e.GetAction(), e.GetInstallation().GetID()
		switch w.Action {
		case "created", "deleted", "suspend", "unsuspend":
		default:
			return w.ignoreAction()
		}
		w.Kind = KindInstallation
		w.Installation = &InstallationChange{Action: w.Action, Account: e.GetInstallation().GetAccount().GetLogin(), Repos: webhookRepos(e.Repositories)}
	case *gh.InstallationRepositoriesEvent:
		w.Action, w.InstallationID = e.GetAction(), e.GetInstallation().GetID()
		if w.Action != "added" && w.Action != "removed" {
			return w.ignoreAction()
		}
		w.Kind = KindInstallationRepositories
		w.Installation = &InstallationChange{Action: w.Action, Account: e.GetInstallation().GetAccount().GetLogin(),
			Added: webhookRepos(e.RepositoriesAdded), Removed: webhookRepos(e.RepositoriesRemoved)}
	case *gh.PushEvent:
		return w.push(e)
	case *gh.PullRequestEvent:
		w.Action, w.InstallationID = e.GetAction(), e.GetInstallation().GetID()
		switch w.Action {
		case "opened", "synchronize", "reopened":
		default:
			return w.ignoreAction()
		}
		pr := e.GetPullRequest()
		w.Kind = KindPullRequest
		w.PullRequest = &PullRequest{Repo: webhookRepo(e.GetRepo()), Number: pr.GetNumber(),
			HeadSHA: pr.GetHead().GetSHA(), HeadRef: pr.GetHead().GetRef(), BaseRef: pr.GetBase().GetRef(),
			FromFork: pr.GetHead().GetRepo().GetID() != e.GetRepo().GetID()}
		if w.PullRequest.HeadSHA == "" {
			return w.ignore("pull_request without a head sha")
		}
	case *gh.CheckSuiteEvent:
		w.Action, w.InstallationID = e.GetAction(), e.GetInstallation().GetID()
		if w.Action != "rerequested" {
			return w.ignoreAction()
		}
		cs := e.GetCheckSuite()
		w.Kind = KindRerequest
		w.Rerequest = &Rerequest{Repo: webhookRepo(e.GetRepo()), HeadSHA: cs.GetHeadSHA(), HeadBranch: cs.GetHeadBranch()}
	case *gh.CheckRunEvent:
		w.Action, w.InstallationID = e.GetAction(), e.GetInstallation().GetID()
		if w.Action != "rerequested" {
			return w.ignoreAction()
		}
		cr := e.GetCheckRun()
		w.Kind = KindRerequest
		w.Rerequest = &Rerequest{Repo: webhookRepo(e.GetRepo()), HeadSHA: cr.GetHeadSHA(),
			HeadBranch: cr.GetCheckSuite().GetHeadBranch(), CheckRunID: cr.GetID(), ExternalID: cr.GetExternalID()}
	default:
		if a, ok := ev.(interface{ GetAction() string }); ok {
			w.Action = a.GetAction()
			return w.ignoreAction()
		}
		return w.ignore("event " + w.Event)
	}
	return w
}

// zeroSHA is the after of a push that deletes its ref.
const zeroSHA = "0000000000000000000000000000000000000000"

func (w Webhook) push(e *gh.PushEvent) Webhook {
	w.InstallationID = e.GetInstallation().GetID()
	p := &Push{Ref: e.GetRef(), Before: e.GetBefore(), After: e.GetAfter(), Forced: e.GetForced(), Created: e.GetCreated()}
	r := e.GetRepo()
	p.Repo = Repo{ID: r.GetID(), Owner: r.GetOwner().GetLogin(), Name: r.GetName(), FullName: r.GetFullName(),
		CloneURL: r.GetCloneURL(), DefaultBranch: r.GetDefaultBranch(), Private: r.GetPrivate()}
	if p.Repo.Owner == "" { // pushes from some clients name the owner only by "name"
		p.Repo.Owner = r.GetOwner().GetName()
	}
	var ok bool
	if p.Branch, ok = strings.CutPrefix(p.Ref, "refs/heads/"); !ok {
		p.Branch = ""
		if p.Tag, ok = strings.CutPrefix(p.Ref, "refs/tags/"); !ok {
			return w.ignore("push to " + p.Ref + ", neither a branch nor a tag")
		}
	}
	if e.GetDeleted() || p.After == "" || p.After == zeroSHA {
		return w.ignore("push deletes " + p.Ref + "; there is no commit to run")
	}
	w.Kind, w.Push = KindPush, p
	return w
}

func webhookRepos(rs []*gh.Repository) []Repo {
	out := make([]Repo, 0, len(rs))
	for _, r := range rs {
		out = append(out, webhookRepo(r))
	}
	return out
}

func webhookRepo(r *gh.Repository) Repo {
	owner, name, _ := strings.Cut(r.GetFullName(), "/")
	if o := r.GetOwner().GetLogin(); o != "" {
		owner = o
	}
	if r.GetName() != "" {
		name = r.GetName()
	}
	return Repo{ID: r.GetID(), Owner: owner, Name: name, FullName: r.GetFullName(), CloneURL: r.GetCloneURL(),
		DefaultBranch: r.GetDefaultBranch(), Private: r.GetPrivate()}
}
