package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
	"github.com/runbookhq/runbook/internal/store"
)

// Page bounds of a log range read.
const (
	defaultLogLimit = 1000
	maxLogLimit     = 10000
)

// lineView is one log line on the wire. Text is the line as UTF-8; a line
// that is not valid UTF-8 also carries its exact bytes, base64-encoded.
type lineView struct {
	N      int64     `json:"n"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
	Text   string    `json:"text"`
	Raw    []byte    `json:"raw,omitempty"`
}

func viewLine(l logline.Line) lineView {
	v := lineView{N: l.N, Stream: l.Stream.String(), Time: l.Time, Text: string(l.Text)}
	if !utf8.Valid(l.Text) {
		v.Raw = append([]byte(nil), l.Text...)
	}
	return v
}

// stepTarget resolves the run, step and attempt a log request names. The
// attempt defaults to the step's latest.
func (s *Server) stepTarget(w http.ResponseWriter, r *http.Request, c call) (store.Run, store.Step, int, bool) {
	id, ok := s.runID(w, r)
	if !ok {
		return store.Run{}, store.Step{}, 0, false
	}
	run, err := s.cfg.Runs.GetRun(r.Context(), c.tenant, id)
	if err != nil {
		s.fail(w, r, err)
		return store.Run{}, store.Step{}, 0, false
	}
	name := r.PathValue("step")
	for _, st := range run.Steps {
		if st.Name != name {
			continue
		}
		attempt := st.Attempt
		if a := r.URL.Query().Get("attempt"); a != "" {
			n, err := strconv.Atoi(a)
			if err != nil || n < 1 || n > st.Attempt {
				writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("step %q has attempts 1 to %d", name, st.Attempt))
				return store.Run{}, store.Step{}, 0, false
			}
			attempt = n
		}
		return run, st, attempt, true
	}
	writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("run %d has no step %q", id, name))
	return store.Run{}, store.Step{}, 0, false
}

// stepLogs returns a range of a step's log: ?from=N (1-based) &limit=M.
func (s *Server) stepLogs(w http.ResponseWriter, r *http.Request, c call) {
	run, st, attempt, ok := s.stepTarget(w, r, c)
	if !ok {
		return
	}
	q := r.URL.Query()
	from, limit := int64(1), defaultLogLimit
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "from must be a line number ≥ 1")
			return
		}
		from = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLogLimit {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit must be from 1 to %d", maxLogLimit))
			return
		}
		limit = n
	}
	out := struct {
		Step    string     `json:"step"`
		Attempt int        `json:"attempt"`
		Lines   []lineView `json:"lines"`
		Next    int64      `json:"next"` // the from of the next page
	}{Step: st.Name, Attempt: attempt, Lines: []lineView{}, Next: from}
	if attempt > 0 {
		lines, err := s.cfg.Logs.Read(logstore.RunKey(run.ID, st.Name, attempt), from, limit)
		if err != nil && !errors.Is(err, logstore.ErrNotFound) { // a silent step has no log
			s.internal(w, r, err)
			return
		}
		for _, l := range lines {
			out.Lines = append(out.Lines, viewLine(l))
			out.Next = l.N + 1
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// rawLogs downloads a step's log as the bytes it printed, stdout and stderr
// interleaved in line order.
func (s *Server) rawLogs(w http.ResponseWriter, r *http.Request, c call) {
	run, st, attempt, ok := s.stepTarget(w, r, c)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="run-%d-%s-%d.log"`, run.ID, safeFileName(st.Name), attempt))
	if attempt == 0 {
		return
	}
	key := logstore.RunKey(run.ID, st.Name, attempt)
	for from := int64(1); ; {
		lines, err := s.cfg.Logs.Read(key, from, maxLogLimit)
		if err != nil {
			if !errors.Is(err, logstore.ErrNotFound) {
				s.log.Error("raw log", "run", run.ID, "step", st.Name, "err", err)
			}
			return
		}
		if len(lines) == 0 {
			return
		}
		for _, l := range lines {
			w.Write(l.Text)
			w.Write([]byte{'\n'})
		}
		from = lines[len(lines)-1].N + 1
	}
}

func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// followLogs streams a step's log over SSE from the line after Last-Event-ID
// (line numbers are the event ids), then live, and sends "end" when the
// attempt is over and every line was sent.
func (s *Server) followLogs(w http.ResponseWriter, r *http.Request, c call) {
	run, st, attempt, ok := s.stepTarget(w, r, c)
	if !ok {
		return
	}
	after, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	sub := s.cfg.Bus.Subscribe(eventbus.RunTopic(run.ID))
	defer sub.Close()
	out := startSSE(w, s.cfg.Heartbeat)
	defer out.close()

	if attempt == 0 {
		// Not started yet: wait for its first attempt.
		attempt = 1
	}
	key := logstore.RunKey(run.ID, st.Name, attempt)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var buf []byte
		done <- s.cfg.Logs.Follow(ctx, key, after+1, func(l logline.Line) error {
			buf = appendLineJSON(buf[:0], l)
			return out.eventJSON(l.N, "line", buf)
		})
	}()
	end := func() { out.event(-1, "end", map[string]any{"step": st.Name, "attempt": attempt}) }
	// A step that printed nothing has no log to close: end once its attempt
	// is over and no log appeared. Check now, then at every change of the run.
	// A log that stays incomplete and unchanged for abandonedLogAfter after
	// its attempt is over lost its writer (a killed worker never ends its
	// copy in the shared store): end too, rather than wait forever.
	var recheck <-chan time.Time
	staleLines, staleSince := int64(-1), time.Time{}
	for {
		if s.attemptOver(r.Context(), c.tenant, run.ID, st.Name, attempt) {
			info, err := s.cfg.Logs.Stat(key)
			if errors.Is(err, logstore.ErrNotFound) {
				cancel()
				<-done
				end()
				return
			}
			if err == nil && !info.Complete {
				if info.Lines != staleLines {
					staleLines, staleSince = info.Lines, time.Now()
				} else if time.Since(staleSince) >= abandonedLogAfter {
					cancel()
					<-done
					end()
					return
				}
				recheck = time.After(abandonedLogAfter / 4)
			}
		}
		select {
		case err := <-done:
			if err == nil {
				end()
			}
			return
		case <-sub.C:
		case <-recheck:
		}
	}
}

// abandonedLogAfter: see followLogs. Longer than a writer's wait at close
// (pglogs.Options.CloseWait, 5s), so a slow but live copy still ends itself.
const abandonedLogAfter = 10 * time.Second

func (s *Server) attemptOver(ctx context.Context, tenant, runID int64, step string, attempt int) bool {
	run, err := s.cfg.Runs.GetRun(ctx, tenant, runID)
	if err != nil {
		return false
	}
	for _, st := range run.Steps {
		if st.Name == step {
			return st.Attempt > attempt || (st.Attempt == attempt && st.Status.Terminal()) || (st.Status.Terminal() && st.Attempt == 0)
		}
	}
	return false
}
