package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// zeros is an endless body of spaces that costs no memory.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestOversizedUploadsGet413NotAReset is issue 13 item 4.5: of 8 parallel
// 20 MB uploads, one got "connection reset" instead of 413, because the
// handler read 1 MiB before it checked. A declared Content-Length over the
// limit is now answered before reading, so every client reads a 413.
func TestOversizedUploadsGet413NotAReset(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("ula")
	const size = 20 << 20
	paths := []struct{ path, token, ctype string }{
		{runsPath(u.tenant), u.access, "application/yaml"},
		{runsPath(u.tenant), u.access, "multipart/form-data; boundary=x"},
		{"/api/v1/auth/login", "", "application/json"},
		{"/api/v1/auth/refresh", "", "application/json"},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for round := range 4 {
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := paths[(round+i)%len(paths)]
				req, err := http.NewRequest("POST", h.url+p.path, io.LimitReader(zeros{}, size))
				if err != nil {
					t.Error(err)
					return
				}
				req.ContentLength = size
				req.Header.Set("Content-Type", p.ctype)
				if p.token != "" {
					req.Header.Set("Authorization", "Bearer "+p.token)
				}
				// A client of its own: each upload on its own connection.
				c := &http.Client{Transport: &http.Transport{}}
				defer c.CloseIdleConnections()
				res, err := c.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s: %v", p.path, err))
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"too_large"`) {
					failures = append(failures, fmt.Sprintf("%s: %d %s", p.path, res.StatusCode, b))
				}
			}()
		}
		wg.Wait()
	}
	if len(failures) > 0 {
		t.Fatalf("%d of 32 oversized uploads did not get a 413:\n%s", len(failures), strings.Join(failures, "\n"))
	}
}

// TestOversizedUploadWithExpectContinueGetsNo100: a client that asks first
// (Expect: 100-continue) is told 413 and never invited to send the body.
func TestOversizedUploadWithExpectContinueGetsNo100(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	u := h.signUp("eve")
	target, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{runsPath(u.tenant), "/api/v1/auth/login"} {
		conn, err := net.Dial("tcp", target.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
			path, target.Host, u.access, 20<<20)
		// The server must answer without the body: no deadline is needed
		// for the test to fail, since a server waiting for the body never
		// answers and the test times out.
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		res.Body.Close()
		conn.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: the first answer is %d %s, want 413 (never 100 Continue)", path, res.StatusCode, res.Status)
		}
	}
}

// TestDeepJSONBodiesAreRefused: JSON bodies are bounded in depth as well as
// size, before they are decoded.
func TestDeepJSONBodiesAreRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	deep := `{"login": ` + strings.Repeat("[", 30_000) + `}`
	r := h.request("POST", "/api/v1/auth/login", "", strings.NewReader(deep), "Content-Type", "application/json")
	want(t, r, http.StatusBadRequest, "a body nested 30,000 levels")
	if !strings.Contains(string(r.body), "nests deeper than 32 levels (at byte 41)") {
		t.Errorf("got %s", r)
	}
	// Brackets inside strings are text.
	r = h.request("POST", "/api/v1/auth/login", "", strings.NewReader(`{"login": "`+strings.Repeat("[", 100)+`\"", "password": "x"}`), "Content-Type", "application/json")
	want(t, r, http.StatusUnauthorized, "a login with brackets in a string")
}
