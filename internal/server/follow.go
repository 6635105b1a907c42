package server

import (
	"net/http"
	"time"

	"github.com/runbookhq/runbook/internal/eventbus"
	"github.com/runbookhq/runbook/internal/store"
)

// eventView is one event of a run's log on the wire.
type eventView struct {
	Seq      int64     `json:"seq"`
	Kind     string    `json:"kind"`
	Time     time.Time `json:"time"`
	Step     string    `json:"step,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

func viewEvent(e store.Event) eventView {
	v := eventView{Seq: e.Seq, Kind: string(e.Kind), Time: e.Time, Step: e.Step, Attempt: e.Attempt, Reason: e.Reason}
	if e.Kind == "step_exited" {
		code := e.ExitCode
		v.ExitCode = &code
	}
	return v
}

// followRun streams a run's events over SSE from Last-Event-ID on, then
// live, and ends with an "end" event once the run has finished and every
// event was sent. Event ids are the log's sequence numbers, so a reconnect
// resumes with no gap and no duplicate.
func (s *Server) followRun(w http.ResponseWriter, r *http.Request, c call) {
	id, ok := s.runID(w, r)
	if !ok {
		return
	}
	after, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	// Subscribe before the first read, so nothing committed in between is missed.
	sub := s.cfg.Bus.Subscribe(eventbus.RunTopic(id))
	defer sub.Close()
	run, err := s.cfg.Runs.GetRun(r.Context(), c.tenant, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := startSSE(w, s.cfg.Heartbeat)
	defer out.close()
	for {
		events, err := s.cfg.Runs.Events(r.Context(), c.tenant, id, after)
		if err != nil {
			if r.Context().Err() == nil {
				s.log.Error("follow run: read events", "run", id, "err", err)
			}
			return
		}
		for _, e := range events {
			if out.event(e.Seq, "run_event", viewEvent(e)) != nil {
				return
			}
			after = e.Seq
		}
		if len(events) > 0 {
			// Flush now: a status change must reach the browser at once.
			if out.flush() != nil {
				return
			}
		}
		if run.Status.Terminal() && after >= run.LastSeq {
			out.event(after, "end", map[string]string{"status": string(run.Status)})
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-sub.C:
		}
		if run, err = s.cfg.Runs.GetRun(r.Context(), c.tenant, id); err != nil {
			return
		}
	}
}
