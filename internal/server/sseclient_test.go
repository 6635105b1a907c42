package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	hasID bool
	ID    string
	Event string
	Data  string
}

// sseStream reads a text/event-stream response as the HTML spec's
// EventSource does: fields until a blank line, ":" comments ignored, data
// lines joined with "\n", one optional space after the colon.
type sseStream struct {
	t      *testing.T
	cancel context.CancelFunc
	events chan sseEvent
	err    chan error // the read loop's end: io.EOF when the server closed
}

// follow opens an SSE stream; lastID, when not "", is sent as Last-Event-ID.
func (h *harness) follow(path, token, lastID string) *sseStream {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := h.client.Do(req)
	if err != nil {
		cancel()
		h.t.Fatalf("GET %s: %v", path, err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		h.t.Fatalf("GET %s: %d %s %s, want an event stream", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	if res.Header.Get("X-Accel-Buffering") != "no" {
		h.t.Errorf("GET %s: X-Accel-Buffering is %q; proxies would buffer the stream", path, res.Header.Get("X-Accel-Buffering"))
	}
	s := &sseStream{t: h.t, cancel: cancel, events: make(chan sseEvent, 1024), err: make(chan error, 1)}
	go s.read(res.Body)
	h.t.Cleanup(s.close)
	return s
}

func (s *sseStream) read(body io.ReadCloser) {
	defer body.Close()
	br := bufio.NewReader(body)
	var ev sseEvent
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			close(s.events)
			s.err <- err
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" { // dispatch
			if len(data) > 0 || ev.Event != "" {
				ev.Data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data = sseEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, ev.hasID = value, true
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		}
	}
}

// next returns the next event; it fails the test if the stream ends first
// or nothing arrives within waitLimit.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("the event stream ended early: %v", <-s.err)
		}
		return ev
	case <-time.After(waitLimit):
		s.t.Fatalf("no event within %v", waitLimit)
	}
	return sseEvent{}
}

// closed waits for the server to end the stream after its last event.
func (s *sseStream) closed() {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			s.t.Fatalf("an event after the end: %+v", ev)
		}
	case <-time.After(waitLimit):
		s.t.Fatalf("the server kept the stream open %v after its end", waitLimit)
	}
}

func (s *sseStream) close() { s.cancel() }

func (e sseEvent) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(e.Data), v); err != nil {
		t.Fatalf("event %q data %q: %v", e.Event, e.Data, err)
	}
}
