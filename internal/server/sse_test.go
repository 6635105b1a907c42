package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

type lineJSON struct {
	N      int64  `json:"n"`
	Stream string `json:"stream"`
	Text   string `json:"text"`
	Raw    []byte `json:"raw"`
}

func TestLogsByRangeAndRaw(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("dora")
	// 25 stdout lines, one stderr line, one line that is not UTF-8.
	run := h.submit(u, "steps:\n  - name: talk\n    command: |\n      for i in $(seq 1 25); do echo \"line $i\"; done\n      echo oops >&2\n      printf 'bad \\377\\n'\n", "")
	if end := h.waitEnd(u, run.ID); end.Status != "succeeded" {
		t.Fatalf("run ended %s", end.Status)
	}
	base := runPath(u.tenant, run.ID) + "/steps/talk/logs"
	var got []lineJSON
	from := int64(1)
	for pages := 0; pages < 10; pages++ {
		r := h.request("GET", fmt.Sprintf("%s?from=%d&limit=10", base, from), u.access, nil)
		want(t, r, http.StatusOK, "log page")
		var page struct {
			Step    string     `json:"step"`
			Attempt int        `json:"attempt"`
			Lines   []lineJSON `json:"lines"`
			Next    int64      `json:"next"`
		}
		r.decode(t, &page)
		if page.Step != "talk" || page.Attempt != 1 || len(page.Lines) > 10 {
			t.Fatalf("page from %d: %s", from, r.body)
		}
		if len(page.Lines) == 0 {
			if page.Next != from {
				t.Errorf("past the end, next = %d, want %d (where to ask again)", page.Next, from)
			}
			break
		}
		if page.Lines[0].N != from || page.Next != page.Lines[len(page.Lines)-1].N+1 {
			t.Errorf("page from %d: first line %d, next %d", from, page.Lines[0].N, page.Next)
		}
		got = append(got, page.Lines...)
		from = page.Next
	}
	if len(got) != 27 {
		t.Fatalf("read %d lines, want 27: %+v", len(got), got)
	}
	// Two pipes give no order between stdout and stderr; within each, order holds.
	var out, errs []string
	for i, l := range got {
		if l.N != int64(i+1) {
			t.Fatalf("line %d has number %d", i+1, l.N)
		}
		text := l.Text
		if l.Raw != nil {
			text = string(l.Raw)
		}
		if l.Stream == "stderr" {
			errs = append(errs, text)
		} else {
			out = append(out, text)
		}
	}
	var wantOut []string
	for i := 1; i <= 25; i++ {
		wantOut = append(wantOut, fmt.Sprintf("line %d", i))
	}
	wantOut = append(wantOut, "bad \xff")
	if strings.Join(out, "\n") != strings.Join(wantOut, "\n") || len(errs) != 1 || errs[0] != "oops" {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}

	raw := h.request("GET", base+"/raw", u.access, nil)
	want(t, raw, http.StatusOK, "raw log")
	var wantRaw strings.Builder
	for _, l := range got { // the raw download is the lines' exact bytes in line order
		if l.Raw != nil {
			wantRaw.Write(l.Raw)
		} else {
			wantRaw.WriteString(l.Text)
		}
		wantRaw.WriteByte('\n')
	}
	if string(raw.body) != wantRaw.String() {
		t.Errorf("raw log = %q, want %q", raw.body, wantRaw.String())
	}
	if cd := raw.hdr.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, fmt.Sprintf("run-%d-talk-1.log", run.ID)) {
		t.Errorf("Content-Disposition %q", cd)
	}
	for _, q := range []string{"?from=0", "?from=x", "?limit=0", "?limit=10001"} {
		if r := h.request("GET", base+q, u.access, nil); r.code != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", q, r)
		}
	}
}

// TestFollowRunEvents follows a run over SSE until "end", disconnecting
// mid-run and resuming with Last-Event-ID: together the two streams hold
// every event of the run's log once, in order.
func TestFollowRunEvents(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("erin")
	g := newGate(t)
	run := h.submit(u, "steps:\n  - name: A\n    command: "+g.wait()+"\n  - name: B\n    depends_on: [A]\n    command: 'exit 0'\n", "")
	path := runPath(u.tenant, run.ID) + "/events"

	type ev struct {
		Seq  int64  `json:"seq"`
		Kind string `json:"kind"`
		Step string `json:"step"`
	}
	var seen []ev
	take := func(s *sseStream) (ended bool, status string) {
		e := s.next()
		if e.Event == "end" {
			var end struct{ Status string }
			e.decode(t, &end)
			return true, end.Status
		}
		if e.Event != "run_event" {
			t.Fatalf("unexpected event %+v", e)
		}
		var v ev
		e.decode(t, &v)
		if !e.hasID || e.ID != strconv.FormatInt(v.Seq, 10) {
			t.Fatalf("event id %q does not carry seq %d", e.ID, v.Seq)
		}
		seen = append(seen, v)
		return false, ""
	}

	first := h.follow(path, u.access, "")
	for len(seen) == 0 || seen[len(seen)-1].Kind != "step_started" {
		if ended, _ := take(first); ended {
			t.Fatal("the run ended while its gate was shut")
		}
	}
	first.close()
	g.open(t)
	resumed := h.follow(path, u.access, strconv.FormatInt(seen[len(seen)-1].Seq, 10))
	var status string
	for ended := false; !ended; {
		ended, status = take(resumed)
	}
	resumed.closed()
	if status != "succeeded" {
		t.Errorf("end status %q, want succeeded", status)
	}
	stored, err := h.st.Events(context.Background(), u.tenant, run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(stored) {
		t.Fatalf("followed %d events, the log has %d: %+v", len(seen), len(stored), seen)
	}
	for i, e := range stored {
		if seen[i].Seq != e.Seq || seen[i].Kind != string(e.Kind) || seen[i].Step != e.Step {
			t.Errorf("event %d: followed %+v, stored %+v", i, seen[i], e)
		}
	}

	// Following a finished run replays its log and ends at once; resuming at
	// the end sends only "end".
	again := h.follow(path, u.access, strconv.FormatInt(stored[len(stored)-1].Seq, 10))
	if e := again.next(); e.Event != "end" {
		t.Errorf("resume at the last event sent %+v, want end", e)
	}
	again.closed()
	if r := h.request("GET", path, u.access, nil, "Last-Event-ID", "nope"); r.code != http.StatusBadRequest {
		t.Errorf("a bad Last-Event-ID: %s, want 400", r)
	}
}

// TestFollowStepLogLive proves lines arrive while the step still runs: the
// step prints, then waits on a gate only the test opens.
func TestFollowStepLogLive(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("fred")
	g1, g2 := newGate(t), newGate(t)
	run := h.submit(u, fmt.Sprintf("steps:\n  - name: s\n    command: |\n      for i in 1 2 3; do echo \"early $i\"; done\n      %s\n      for i in 4 5 6; do echo \"mid $i\"; done\n      %s\n      for i in $(seq 7 500); do echo \"late $i\"; done\n", g1.wait(), g2.wait()), "")
	path := runPath(u.tenant, run.ID) + "/steps/s/logs/follow"

	var got []lineJSON
	take := func(s *sseStream) bool {
		e := s.next()
		if e.Event == "end" {
			if e.hasID {
				t.Errorf("end carries id %q: a reconnect would skip a line", e.ID)
			}
			return true
		}
		var l lineJSON
		e.decode(t, &l)
		if e.Event != "line" || e.ID != strconv.FormatInt(l.N, 10) {
			t.Fatalf("event %+v: want a line whose id is its number", e)
		}
		got = append(got, l)
		return false
	}

	s1 := h.follow(path, u.access, "")
	for len(got) < 3 {
		if take(s1) {
			t.Fatal("end before the step was released")
		}
	}
	// Three lines arrived and the step is still blocked on g1: live.
	if st := h.getRun(u, run.ID).step(t, "s"); st.Status != "running" {
		t.Fatalf("step is %s after its first lines, want running", st.Status)
	}
	g1.open(t)
	for len(got) < 5 {
		take(s1)
	}
	s1.close() // drop the connection mid-way, as a flaky network would
	g2.open(t)
	s2 := h.follow(path, u.access, strconv.FormatInt(got[len(got)-1].N, 10))
	for !take(s2) {
	}
	s2.closed()
	if len(got) != 500 {
		t.Fatalf("received %d lines, want 500", len(got))
	}
	for i, l := range got {
		if l.N != int64(i+1) {
			t.Fatalf("line %d has number %d: a gap or a duplicate", i+1, l.N)
		}
	}
	if got[5].Text != "mid 6" || got[499].Text != "late 500" {
		t.Errorf("texts: %q, %q", got[5].Text, got[499].Text)
	}
}

// TestFollowSilentStep: a step that prints nothing has no log, yet its
// follower must end when it does.
func TestFollowSilentStep(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("gina")
	g := newGate(t)
	run := h.submit(u, "steps:\n  - name: quiet\n    command: "+g.wait()+"\n  - name: later\n    depends_on: [quiet]\n    command: 'true'\n", "")
	h.waitRun(u, run.ID, "quiet to run", func(r runJSON) bool { return r.step(t, "quiet").Status == "running" })
	quiet := h.follow(runPath(u.tenant, run.ID)+"/steps/quiet/logs/follow", u.access, "")
	// "later" has not started yet: its follower waits for its first attempt.
	later := h.follow(runPath(u.tenant, run.ID)+"/steps/later/logs/follow", u.access, "")
	g.open(t)
	for _, s := range []*sseStream{quiet, later} {
		e := s.next()
		var end struct {
			Step    string `json:"step"`
			Attempt int    `json:"attempt"`
		}
		e.decode(t, &end)
		if e.Event != "end" || end.Attempt != 1 {
			t.Errorf("silent step's follow sent %+v, want end of attempt 1", e)
		}
		s.closed()
	}
	r := h.request("GET", runPath(u.tenant, run.ID)+"/steps/quiet/logs", u.access, nil)
	want(t, r, http.StatusOK, "silent step's log")
	if !strings.Contains(string(r.body), `"lines":[]`) {
		t.Errorf("silent step's log: %s", r.body)
	}
}
