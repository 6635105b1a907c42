package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client talks to one server as one signed-in user.
type client struct {
	base   string
	http   *http.Client
	token  string // never printed
	tenant int64
}

func newClient(base string) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	return &client{base: base, http: &http.Client{Transport: tr}}
}

// do sends a request and decodes a JSON answer with the wanted status.
func (c *client) do(method, path string, body io.Reader, want int, out any) error {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// signIn creates a user with a random password and logs in.
func (c *client) signIn() error {
	user := "bench" + randomHex(4)
	pw := randomHex(16)
	var up struct {
		User struct {
			TenantID int64 `json:"tenant_id"`
		} `json:"user"`
	}
	in, _ := json.Marshal(map[string]string{"email": user + "@bench.invalid", "username": user, "password": pw})
	if err := c.do("POST", "/api/v1/auth/signup", bytes.NewReader(in), http.StatusCreated, &up); err != nil {
		return fmt.Errorf("sign-up: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	in, _ = json.Marshal(map[string]string{"login": user, "password": pw})
	if err := c.do("POST", "/api/v1/auth/login", bytes.NewReader(in), http.StatusOK, &tok); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.token, c.tenant = tok.AccessToken, up.User.TenantID
	return nil
}

func (c *client) runPath(id int64) string {
	return fmt.Sprintf("/api/v1/tenants/%d/runs/%d", c.tenant, id)
}

// createRun uploads a workflow file and returns the run id and when the
// POST returned.
func (c *client) createRun(workflow string) (int64, time.Time, error) {
	var run struct {
		ID int64 `json:"id"`
	}
	err := c.do("POST", fmt.Sprintf("/api/v1/tenants/%d/runs", c.tenant), strings.NewReader(workflow), http.StatusCreated, &run)
	return run.ID, time.Now(), err
}

// runEvent is one event of a run's log as the API sends it.
type runEvent struct {
	Seq  int64     `json:"seq"`
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	Step string    `json:"step"`
}

// stream opens an SSE stream; the caller closes the body.
func (c *client) stream(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: status %d: %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp, nil
}

// waitRun follows a run's events until its "end" and returns them all with
// the final status. The stream ends by itself when the run does; ctx bounds
// a run that never ends.
func (c *client) waitRun(ctx context.Context, id int64) ([]runEvent, string, error) {
	resp, err := c.stream(ctx, c.runPath(id)+"/events")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var events []runEvent
	status := ""
	err = readSSE(resp.Body, func(_ int64, name, data []byte) error {
		switch string(name) {
		case "run_event":
			var e runEvent
			if err := json.Unmarshal(data, &e); err != nil {
				return fmt.Errorf("run %d: event %q: %w", id, data, err)
			}
			events = append(events, e)
		case "end":
			var end struct{ Status string }
			if err := json.Unmarshal(data, &end); err != nil {
				return err
			}
			status = end.Status
			return errEnd
		}
		return nil
	})
	if err != nil && err != errEnd {
		return events, "", fmt.Errorf("following run %d: %w", id, err)
	}
	if status == "" {
		return events, "", fmt.Errorf("run %d: the event stream closed before its end event", id)
	}
	return events, status, nil
}

var errEnd = fmt.Errorf("end of stream")

// readSSE calls fn for each event of an SSE stream, with its id (-1 when
// none) and its name and data. The slices are reused: fn must not keep
// them. It reads with ReadSlice, so 500 readers of 100,000 events each do
// not allocate per line.
func readSSE(r io.Reader, fn func(id int64, name, data []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	id := int64(-1)
	var name, data []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		switch {
		case len(line) == 0:
			if len(name) > 0 || len(data) > 0 {
				if err := fn(id, name, data); err != nil {
					return err
				}
			}
			id, name, data = -1, name[:0], data[:0]
		case line[0] == ':': // comment: heartbeat
		case bytes.HasPrefix(line, []byte("id: ")):
			n, ok := atoi(line[4:])
			if !ok {
				return fmt.Errorf("bad SSE id line %q", line)
			}
			id = n
		case bytes.HasPrefix(line, []byte("event: ")):
			name = append(name[:0], line[7:]...)
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data, line[6:]...)
		}
	}
}

// atoi parses a non-negative decimal without allocating.
func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
