package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var hookSecret = []byte("whsec-It's a Secret to Everybody")

func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func hookFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func delivery(event string, body []byte) http.Header {
	h := http.Header{}
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	h.Set("X-Hub-Signature-256", sign(hookSecret, body))
	h.Set("Content-Type", "application/json")
	return h
}

func parseFixture(t *testing.T, event, file string) Webhook {
	t.Helper()
	body := hookFixture(t, file)
	w, err := ParseWebhook(hookSecret, delivery(event, body), body)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if w.Delivery != "72d3162e-cc78-11e3-81ab-4c9367dc0958" || w.Event != event {
		t.Errorf("%s: delivery %q event %q", file, w.Delivery, w.Event)
	}
	return w
}

func TestWebhookPush(t *testing.T) {
	w := parseFixture(t, "push", "push.json")
	want := &Push{Repo: Repo{ID: 1296269, Owner: "octo-org", Name: "hello", FullName: "octo-org/hello",
		CloneURL: "https://github.com/octo-org/hello.git", DefaultBranch: "main", Private: true},
		Ref: "refs/heads/main", Branch: "main", Before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
		After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", Forced: true}
	if w.Kind != KindPush || w.InstallationID != 42 || !reflect.DeepEqual(w.Push, want) {
		t.Errorf("got kind %s installation %d push %+v\nwant %+v", w.Kind, w.InstallationID, w.Push, want)
	}

	tag := parseFixture(t, "push", "push_tag.json")
	if tag.Kind != KindPush || tag.Push.Tag != "v1.2.0" || tag.Push.Branch != "" || !tag.Push.Created {
		t.Errorf("tag push: %+v", tag.Push)
	}

	del := parseFixture(t, "push", "push_delete.json")
	if del.Kind != KindIgnored || del.Push != nil || !strings.Contains(del.Ignored, "deletes refs/heads/feature/old") {
		t.Errorf("branch deletion: kind %s, %q", del.Kind, del.Ignored)
	}
}

func TestWebhookPullRequest(t *testing.T) {
	w := parseFixture(t, "pull_request", "pull_request.json")
	want := &PullRequest{Repo: Repo{ID: 1296269, Owner: "octo-org", Name: "hello", FullName: "octo-org/hello",
		CloneURL: "https://github.com/octo-org/hello.git", DefaultBranch: "main"},
		Number: 7, HeadSHA: "9c5d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f70812", HeadRef: "feature", BaseRef: "main", FromFork: true}
	if w.Kind != KindPullRequest || w.Action != "synchronize" || !reflect.DeepEqual(w.PullRequest, want) {
		t.Errorf("got %s %s %+v\nwant %+v", w.Kind, w.Action, w.PullRequest, want)
	}
	closed := parseFixture(t, "pull_request", "pull_request_closed.json")
	if closed.Kind != KindIgnored || closed.Ignored != "ignored: event pull_request action closed" {
		t.Errorf("closed: %s %q", closed.Kind, closed.Ignored)
	}
}

func TestWebhookInstallation(t *testing.T) {
	w := parseFixture(t, "installation", "installation.json")
	if w.Kind != KindInstallation || w.InstallationID != 42 || w.Installation.Action != "created" || w.Installation.Account != "octo-org" {
		t.Fatalf("got %+v %+v", w, w.Installation)
	}
	if got := w.Installation.Repos; len(got) != 2 || got[0].Owner != "octo-org" || got[0].Name != "hello" || !got[0].Private || got[1].ID != 1296270 {
		t.Errorf("repos %+v", got)
	}
	s := parseFixture(t, "installation", "installation_suspend.json")
	if s.Kind != KindInstallation || s.Installation.Action != "suspend" {
		t.Errorf("suspend: %+v", s.Installation)
	}
	r := parseFixture(t, "installation_repositories", "installation_repositories.json")
	if r.Kind != KindInstallationRepositories || r.Installation.Action != "added" ||
		len(r.Installation.Added) != 1 || r.Installation.Added[0].FullName != "octo-org/new-service" || len(r.Installation.Removed) != 0 {
		t.Errorf("installation_repositories: %+v", r.Installation)
	}
}

func TestWebhookRerequest(t *testing.T) {
	s := parseFixture(t, "check_suite", "check_suite.json")
	want := &Rerequest{Repo: Repo{ID: 1296269, Owner: "octo-org", Name: "hello", FullName: "octo-org/hello"},
		HeadSHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", HeadBranch: "main"}
	if s.Kind != KindRerequest || !reflect.DeepEqual(s.Rerequest, want) {
		t.Errorf("check_suite: %+v", s.Rerequest)
	}
	r := parseFixture(t, "check_run", "check_run.json")
	want.CheckRunID, want.ExternalID = 128620228, "run-01JDX7"
	if r.Kind != KindRerequest || !reflect.DeepEqual(r.Rerequest, want) {
		t.Errorf("check_run: %+v", r.Rerequest)
	}
}

func TestWebhookPingAndIgnoredEvents(t *testing.T) {
	if w := parseFixture(t, "ping", "ping.json"); w.Kind != KindPing {
		t.Errorf("ping: %s", w.Kind)
	}
	if w := parseFixture(t, "issues", "issues.json"); w.Kind != KindIgnored || w.Ignored != "ignored: event issues action opened" {
		t.Errorf("issues: %s %q", w.Kind, w.Ignored)
	}
	body := []byte(`{"zen":"x"}`)
	w, err := ParseWebhook(hookSecret, delivery("made_up_event", body), body)
	if err != nil || w.Kind != KindIgnored || !strings.Contains(w.Ignored, "made_up_event") {
		t.Errorf("unknown event: %v %s %q", err, w.Kind, w.Ignored)
	}
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	body := hookFixture(t, "push.json")
	other := hookFixture(t, "push_tag.json")
	for name, sig := range map[string]string{
		"missing":               "",
		"sha1 only":             "sha1=" + strings.Repeat("ab", 20),
		"not hex":               "sha256=" + strings.Repeat("zz", 32),
		"truncated":             sign(hookSecret, body)[:40],
		"forged (other key)":    sign([]byte("guessed secret"), body),
		"over a different body": sign(hookSecret, other),
		"upper-case prefix":     "SHA256=" + strings.TrimPrefix(sign(hookSecret, body), "sha256="),
	} {
		t.Run(name, func(t *testing.T) {
			h := delivery("push", body)
			h.Set("X-Hub-Signature-256", sig)
			w, err := ParseWebhook(hookSecret, h, body)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
			if w.Kind != "" || strings.Contains(err.Error(), string(hookSecret)) {
				t.Errorf("got %+v, %v", w, err)
			}
		})
	}
	// A body altered after signing.
	tampered := []byte(strings.Replace(string(body), "refs/heads/main", "refs/heads/prod", 1))
	if _, err := ParseWebhook(hookSecret, delivery("push", body), tampered); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered body: %v", err)
	}
	if _, err := ParseWebhook(nil, delivery("push", body), body); !errors.Is(err, ErrNoWebhookSecret) {
		t.Errorf("no secret: %v", err)
	}
}

func TestWebhookNeedsDeliveryAndEventHeaders(t *testing.T) {
	body := hookFixture(t, "push.json")
	for _, header := range []string{"X-GitHub-Delivery", "X-GitHub-Event"} {
		h := delivery("push", body)
		h.Del(header)
		if _, err := ParseWebhook(hookSecret, h, body); !errors.Is(err, ErrBadDelivery) || !strings.Contains(err.Error(), header) {
			t.Errorf("without %s: %v", header, err)
		}
	}
	bad := []byte(`{"ref": 5}`)
	if _, err := ParseWebhook(hookSecret, delivery("push", bad), bad); !errors.Is(err, ErrBadDelivery) {
		t.Errorf("malformed JSON: %v", err)
	}
}

func TestWebhookRedeliveryKeepsItsID(t *testing.T) {
	// Parsing is pure: a redelivery parses to the same webhook, with the
	// same delivery id for the store to deduplicate on.
	body := hookFixture(t, "push.json")
	a := parseFixture(t, "push", "push.json")
	b, err := ParseWebhook(hookSecret, delivery("push", body), body)
	if err != nil || !reflect.DeepEqual(a, b) || b.Delivery == "" {
		t.Errorf("redelivery: %v\n%+v\n%+v", err, a, b)
	}
}
