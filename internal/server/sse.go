package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// sseWriter writes Server-Sent Events. Events are buffered and flushed at
// most every flushEvery, and by an idle timer, so a burst of 100,000 log
// lines is not 100,000 TCP writes, yet the last line never waits.
type sseWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	buf     *bufio.Writer
	dirty   bool
	lastOut time.Time
	err     error
	stop    chan struct{}
	done    sync.WaitGroup
}

const sseFlushEvery = 10 * time.Millisecond

// startSSE sends the stream's headers and starts the idle flusher and the
// heartbeat. Call close when the handler returns.
func startSSE(w http.ResponseWriter, heartbeat time.Duration) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // nginx must not buffer a live stream
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w), buf: bufio.NewWriterSize(w, 32<<10), stop: make(chan struct{})}
	s.rc.Flush()
	s.done.Add(1)
	go s.loop(heartbeat)
	return s
}

func (s *sseWriter) loop(heartbeat time.Duration) {
	defer s.done.Done()
	tick := time.NewTicker(sseFlushEvery)
	defer tick.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.mu.Lock()
			s.flushLocked()
			s.mu.Unlock()
		case <-beat.C:
			s.mu.Lock()
			if time.Since(s.lastOut) >= heartbeat/2 {
				s.buf.WriteString(": keep-alive\n\n")
				s.dirty = true
				s.flushLocked()
			}
			s.mu.Unlock()
		}
	}
}

func (s *sseWriter) flushLocked() {
	if !s.dirty || s.err != nil {
		return
	}
	if s.err = s.buf.Flush(); s.err == nil {
		s.err = s.rc.Flush()
	}
	s.dirty = false
	s.lastOut = time.Now()
}

// event queues one event; data is marshalled to JSON on one line. An id < 0
// sends none, so the client's Last-Event-ID stays where it was.
func (s *sseWriter) event(id int64, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return s.eventJSON(id, name, b)
}

// eventJSON is event with data already encoded as one line of JSON.
func (s *sseWriter) eventJSON(id int64, name string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if id >= 0 {
		s.buf.WriteString("id: ")
		s.buf.WriteString(strconv.FormatInt(id, 10))
		s.buf.WriteString("\n")
	}
	s.buf.WriteString("event: ")
	s.buf.WriteString(name)
	s.buf.WriteString("\ndata: ")
	s.buf.Write(b)
	s.buf.WriteString("\n\n")
	s.dirty = true
	if s.buf.Buffered() > 16<<10 {
		s.flushLocked()
	}
	return s.err
}

// flush sends what is queued now.
func (s *sseWriter) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	return s.err
}

func (s *sseWriter) close() {
	close(s.stop)
	s.done.Wait()
	s.flush()
}

// lastEventID is where a resumed stream starts: the Last-Event-ID header an
// EventSource sends on reconnect, or ?after= for clients that start fresh.
func lastEventID(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("Last-Event-ID %q is not a sequence number", v)
	}
	return n, nil
}
