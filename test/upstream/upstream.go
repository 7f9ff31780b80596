// Package upstream is the application behind the proxy in end-to-end tests:
// it answers every request with a JSON echo of what it received, and keeps the
// last requests so tests can see exactly which headers reached it.
package upstream

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Seen is one request as the upstream received it.
type Seen struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
}

// Server is an echo upstream on a loopback port.
type Server struct {
	*httptest.Server

	mu   sync.Mutex
	seen []Seen
}

// New starts an echo upstream on 127.0.0.1:0.
func New() *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	seen := Seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone()}
	s.mu.Lock()
	s.seen = append(s.seen, seen)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upstream", "echo")
	_ = json.NewEncoder(w).Encode(seen)
}

// Requests returns every request received so far.
func (s *Server) Requests() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Seen(nil), s.seen...)
}

// Last returns the most recent request and whether there was one.
func (s *Server) Last() (Seen, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return Seen{}, false
	}
	return s.seen[len(s.seen)-1], true
}

// Reset forgets the requests seen so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.seen = nil
	s.mu.Unlock()
}
