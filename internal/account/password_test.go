package account

import (
	"strings"
	"testing"
	"time"
)

func TestArgon2idRecordsItsParameters(t *testing.T) {
	old := Argon2id{Memory: 256, Time: 1, Threads: 1}
	h, err := old.Hash("a long password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=256,t=1,p=1$") {
		t.Fatalf("hash %q does not carry its parameters in PHC form", h)
	}
	// Verified by a hasher with other parameters: the string's ones count.
	cur := Argon2id{Memory: 512, Time: 2, Threads: 1}
	for pw, want := range map[string]bool{"a long password": true, "a long passworD": false, "": false} {
		if ok, err := cur.Verify(pw, h); ok != want || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if !cur.NeedsRehash(h) || old.NeedsRehash(h) {
		t.Errorf("NeedsRehash: want true for other parameters, false for the same")
	}
	if h2, _ := old.Hash("a long password"); h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestArgon2idRejectsBadHashesWithoutQuotingThem(t *testing.T) {
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=256,t=1,p=1$!!$!!"} {
		ok, err := DefaultArgon2id.Verify("pw", bad)
		if ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want an error", bad, ok, err)
		}
		if bad != "" && err != nil && strings.Contains(err.Error(), bad) {
			t.Errorf("the error quotes the stored hash: %v", err)
		}
	}
}

func TestLimiterRefillsEvenly(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(Limit{Burst: 5, Per: 15 * time.Minute}, func() time.Time { return now })
	for i := range 5 {
		if w := l.take("k"); w != 0 {
			t.Fatalf("try %d waited %v; the burst is 5", i+1, w)
		}
	}
	if w := l.take("k"); w != 3*time.Minute {
		t.Fatalf("6th try: wait %v, want 3m (one try per 15m/5)", w)
	}
	if l.take("other") != 0 {
		t.Fatal("keys share a bucket")
	}
	now = now.Add(3 * time.Minute)
	if w := l.take("k"); w != 0 {
		t.Fatalf("after 3m: wait %v, want a refilled try", w)
	}
	l.give("k")
	if w := l.take("k"); w != 0 {
		t.Fatalf("after give: wait %v, want the returned try", w)
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1", "192.0.2.1:443": "192.0.2.1", "::ffff:192.0.2.1": "192.0.2.1",
		"2001:db8:1:2:3::4": "2001:db8:1:2::/64", "[2001:db8:1:2::9]:80": "2001:db8:1:2::/64", "junk": "?junk",
	} {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsernameFrom(t *testing.T) {
	for in, want := range map[string]string{
		"The_Octocat": "the-octocat", "a.b c": "a-b-c", "--x--": "user-x", "": "user", "Ünï": "user-n",
		strings.Repeat("ab", 30): strings.Repeat("ab", 19) + "a",
	} {
		got := usernameFrom(in)
		if got != want {
			t.Errorf("usernameFrom(%q) = %q, want %q", in, got, want)
		}
		if !usernameRE.MatchString(got) {
			t.Errorf("usernameFrom(%q) = %q is not a valid username", in, got)
		}
	}
}
