package workers

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runbookhq/runbook/internal/store/postgres"
)

// proxy sits between the worker processes and Postgres and counts what
// crosses it, reading the v3 wire protocol: pg_stat_statements needs a
// server restart, and pg_stat_database counts transactions only, late.
//
//   - statements: each simple Query ('Q') and each extended-protocol
//     Execute ('E'), except BEGIN, COMMIT and ROLLBACK;
//   - transactions: each BEGIN … COMMIT/ROLLBACK block, and each statement
//     (or pipeline of Executes up to a Sync) run outside one;
//   - notifications: NotificationResponse ('A') delivered to a LISTEN, and
//     among them wakes, those on the outbox channel (the others relay the
//     event bus between processes).
//
// It adds a hop to every round trip, so timed figures come from a separate
// pass without it.
type proxy struct {
	ln     net.Listener
	target string

	stmts, txns, notifies, wakes, opaque atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

type counts struct{ stmts, txns, notifies, wakes int64 }

func (p *proxy) snapshot() counts {
	return counts{p.stmts.Load(), p.txns.Load(), p.notifies.Load(), p.wakes.Load()}
}

func (c counts) minus(d counts) counts {
	return counts{c.stmts - d.stmts, c.txns - d.txns, c.notifies - d.notifies, c.wakes - d.wakes}
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		parsed := make(chan bool, 1) // whether the server side is plain protocol
		go func() {
			p.fromClient(c, s, parsed)
			s.Close()
			c.Close()
		}()
		go func() {
			p.fromServer(s, c, parsed)
			c.Close()
			s.Close()
		}()
	}
}

// Protocol codes of untyped start-up messages that switch to encryption.
const (
	sslRequest    = 80877103
	gssencRequest = 80877104
)

func (p *proxy) fromClient(c, s net.Conn, parsed chan<- bool) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(s, 64<<10)
	// The start-up message has no type byte.
	msg, err := readUntyped(r)
	if err != nil {
		parsed <- false
		return
	}
	if code := binary.BigEndian.Uint32(msg[4:8]); code == sslRequest || code == gssencRequest {
		// Encryption would hide everything: counted as a failure of the bench
		// (its URLs say sslmode=disable).
		p.opaque.Add(1)
		parsed <- false
		w.Write(msg)
		w.Flush()
		io.Copy(s, r)
		return
	}
	parsed <- true
	if _, err := w.Write(msg); err != nil || w.Flush() != nil {
		return
	}
	inTx, pending := false, false // pending: Executes outside a block since the last Sync
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		switch hdr[0] {
		case 'Q':
			q := strings.ToLower(strings.TrimSpace(strings.TrimRight(string(body), "\x00")))
			switch {
			case strings.HasPrefix(q, "begin") || strings.HasPrefix(q, "start transaction"):
				inTx = true
			case strings.HasPrefix(q, "commit") || strings.HasPrefix(q, "rollback") || strings.HasPrefix(q, "end") || strings.HasPrefix(q, "abort"):
				if inTx {
					p.txns.Add(1)
				}
				inTx = false
			default:
				p.stmts.Add(1)
				if !inTx {
					p.txns.Add(1)
				}
			}
		case 'E':
			p.stmts.Add(1)
			if !inTx {
				pending = true
			}
		case 'S':
			if pending {
				p.txns.Add(1)
				pending = false
			}
		}
		w.Write(hdr)
		w.Write(body)
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func (p *proxy) fromServer(s, c net.Conn, parsed <-chan bool) {
	r := bufio.NewReaderSize(s, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	if !<-parsed {
		w.Flush()
		io.Copy(c, r)
		return
	}
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		w.Write(hdr)
		if hdr[0] == 'A' { // int32 pid, channel, payload
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			p.notifies.Add(1)
			if len(body) > 4 && strings.HasPrefix(string(body[4:]), postgres.OutboxChannel+"\x00") {
				p.wakes.Add(1)
			}
			w.Write(body)
		} else if _, err := io.CopyN(w, r, int64(n)); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func readUntyped(r *bufio.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(l[:]))
	if n < 8 || n > 1<<20 {
		return nil, fmt.Errorf("start-up message of %d bytes", n)
	}
	msg := make([]byte, n)
	copy(msg, l[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}
