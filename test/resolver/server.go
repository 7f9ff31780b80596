// Package resolver holds loopback test doubles for the identity-provider
// endpoints authgate calls: Authgear's session resolver, an Ory Kratos style
// /sessions/whoami, and RFC 7662 token introspection.
//
// Each double answers with the real contract, not a convenient imitation of
// it, so that authgate's tests fail when authgate misreads the contract. Each
// also records what it received and can be switched into a fault (500s, slow
// answers, refused or reset connections, unparsable answers), because how
// authgate behaves when its upstream misbehaves is half of what it must get
// right.
package resolver

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"
)

// Fault is how a server misbehaves instead of answering by its contract.
type Fault int

// The faults. Every request that reaches a server is counted and recorded
// before its fault applies, so Calls and LastRequest still say what authgate
// sent.
const (
	// None answers by the contract.
	None Fault = iota
	// Status500 answers 500, as the real services do on internal errors.
	Status500
	// Slow waits for the delay set with SetDelay before answering by the
	// contract. The wait ends early, without an answer, when the client
	// gives up or the server is closed, so a test never waits for it.
	Slow
	// Refuse stops listening and drops open connections, so new
	// connections are refused. Restore listens again on the same port.
	Refuse
	// Reset sends the start of a status line and then resets the
	// connection, so the client sees a transport error, not a status.
	Reset
	// Garbage answers 200 with a body and headers that cannot be parsed.
	Garbage
)

// String names the fault for test output.
func (f Fault) String() string {
	switch f {
	case None:
		return "None"
	case Status500:
		return "Status500"
	case Slow:
		return "Slow"
	case Refuse:
		return "Refuse"
	case Reset:
		return "Reset"
	case Garbage:
		return "Garbage"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// DefaultDelay is how long Slow waits unless SetDelay says otherwise. It is
// well past authgate's default upstream timeout (2s), so a Slow server trips
// the timeout rather than merely being late.
const DefaultDelay = 10 * time.Second

// maxBody bounds how much of a request body is kept; the contracts here carry
// a few form fields at most.
const maxBody = 1 << 20

// Request is what a server received, kept so tests can check exactly what
// authgate sent upstream.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Host     string
	// Header includes Cookie and Authorization as received.
	Header http.Header
	// Cookies are the parsed Cookie header.
	Cookies []*http.Cookie
	// Form is the parsed body of an application/x-www-form-urlencoded
	// request (nil otherwise); the query string is not merged in.
	Form url.Values
	// Body is the raw request body, up to 1 MiB.
	Body []byte
}

// server is the machinery the contract servers share: the loopback listener,
// the call record and the fault switch. The contract itself is serve.
type server struct {
	srv     *httptest.Server
	addr    string
	serve   http.HandlerFunc // the contract
	fail    http.HandlerFunc // the contract's own 500
	garbage http.HandlerFunc // the contract's own unparsable 200
	closing chan struct{}    // closed by Close, ends Slow waits

	mu    sync.Mutex // guards the fields below
	fault Fault
	delay time.Duration
	calls int
	last  *Request

	life    sync.Mutex   // guards ln, refused and closed
	ln      net.Listener // the listener accepting now
	refused bool
	closed  bool
	serving sync.WaitGroup // Serve loops started by Restore
}

// start listens on 127.0.0.1:0 (httptest never uses a fixed port) and serves.
func (s *server) start() {
	s.delay = DefaultDelay
	s.closing = make(chan struct{})
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.ln = s.srv.Listener
	s.addr = s.ln.Addr().String()
}

// URL is the server's base URL, http://127.0.0.1:port. It stays the same
// across Refuse and Restore.
func (s *server) URL() string { return s.srv.URL }

// Close stops the server. In-flight Slow requests are cut short rather than
// waited for, so Close returns promptly.
func (s *server) Close() {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	// httptest closes only the listener it started with; one opened by
	// Restore is closed here, which ends its Serve loop.
	_ = s.ln.Close()
	s.srv.Close()
	s.life.Unlock()
	s.serving.Wait()
}

// Calls is how many requests reached the server, faults included.
func (s *server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// LastRequest is a copy of the most recent request, or nil before the first.
func (s *server) LastRequest() *Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return nil
	}
	c := *s.last
	c.Header = s.last.Header.Clone()
	c.Cookies = append([]*http.Cookie(nil), s.last.Cookies...)
	if s.last.Form != nil {
		c.Form = url.Values{}
		for k, v := range s.last.Form {
			c.Form[k] = append([]string(nil), v...)
		}
	}
	c.Body = bytes.Clone(s.last.Body)
	return &c
}

// SetDelay sets how long Slow waits.
func (s *server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// SetFault switches the server into fault f (None to answer normally).
// Refuse takes effect at once: the listener is closed and open connections,
// including idle keep-alive ones, are dropped. Switching from Refuse to any
// other fault listens again as Restore does, and panics if the port has been
// taken meanwhile, as httptest does when it cannot listen; call Restore to get
// that as an error instead.
func (s *server) SetFault(f Fault) {
	if f == Refuse {
		s.refuse()
	} else if err := s.relisten(); err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Restore ends any fault. After Refuse it listens again on the same port, so
// URL stays valid; that fails only if another process took the port in the
// meantime, which on loopback in a test run is rare but possible. Tests that
// only need some URL nobody listens on can use RefusedURL instead.
func (s *server) Restore() error {
	if err := s.relisten(); err != nil {
		return err
	}
	s.mu.Lock()
	s.fault = None
	s.mu.Unlock()
	return nil
}

func (s *server) refuse() {
	s.life.Lock()
	defer s.life.Unlock()
	if s.refused || s.closed {
		return
	}
	s.refused = true
	// Closing the listener alone would leave keep-alive connections
	// working, and a client reusing one would never see the refusal.
	_ = s.ln.Close()
	s.srv.CloseClientConnections()
}

func (s *server) relisten() error {
	s.life.Lock()
	defer s.life.Unlock()
	if !s.refused || s.closed {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("failed to listen again on %s: %w", s.addr, err)
	}
	s.refused = false
	s.ln = ln
	// Serving on httptest's own http.Server keeps its connection
	// tracking, so Close still waits for (and closes) these connections.
	// httptest.Server.Listener is left alone: httptest's serve goroutine
	// read it without a lock.
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.srv.Config.Serve(ln)
	}()
	return nil
}

// RefusedURL returns the URL of a loopback port that was just listened on and
// closed, so a connection to it is refused: for tests of an upstream that was
// never there rather than one that went away.
func RefusedURL() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("failed to find a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("failed to close %s: %w", addr, err)
	}
	return "http://" + addr, nil
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	rec := record(r)
	s.mu.Lock()
	s.calls++
	s.last = rec
	fault, delay := s.fault, s.delay
	s.mu.Unlock()

	switch fault {
	case Status500:
		s.fail(w, r)
		return
	case Slow:
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			abort(w)
			return
		case <-s.closing:
			abort(w)
			return
		}
	case Reset:
		reset(w)
		return
	case Garbage:
		s.garbage(w, r)
		return
	}
	s.serve(w, r)
}

// record copies what the contract handlers and tests need, and puts the body
// back so the contract handler can parse it as usual.
func record(r *http.Request) *Request {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Host:     r.Host,
		Header:   r.Header.Clone(),
		Cookies:  r.Cookies(),
		Body:     body,
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && ct == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			rec.Form = form
		}
	}
	return rec
}

// abort drops the connection without an answer. Returning from the handler
// instead would send an empty 200, which for Authgear is a valid answer ("no
// session") and would pass for a real one.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// net/http's documented way to abort a response; the server recovers
	// it quietly and closes the connection.
	panic(http.ErrAbortHandler)
}

// reset sends part of a status line and then aborts the connection with a TCP
// RST (linger 0), the way a crashing upstream or a middlebox does.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// Not reachable with httptest's HTTP/1.1 server; fail loudly
		// rather than answer normally.
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Ty")
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeJSON writes a precomputed JSON body; the bodies here are built from
// plain maps and structs, so encoding cannot fail.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// garbageJSON is a 200 whose body claims to be JSON and is not.
func garbageJSON(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"active": tru`+"\x00\xff"))
}
