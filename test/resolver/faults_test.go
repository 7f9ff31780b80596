package resolver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultable is what every contract server offers besides its contract.
type faultable interface {
	URL() string
	Close()
	Calls() int
	LastRequest() *Request
	SetFault(Fault)
	SetDelay(time.Duration)
	Restore() error
}

// contract is one server set up with a credential it accepts.
type contract struct {
	srv faultable
	// request asks about the accepted credential.
	request func(t *testing.T) *http.Request
	// valid says whether an answer is the contract's "yes".
	valid func(res *http.Response, body []byte) bool
	// unparsable says whether a 200 cannot be read by the contract.
	unparsable func(res *http.Response, body []byte) bool
}

func notJSON(_ *http.Response, body []byte) bool {
	var v any
	return json.Unmarshal(body, &v) != nil
}

var contracts = map[string]func(t *testing.T) contract{
	"authgear": func(t *testing.T) contract {
		ag := NewAuthgear(AuthgearConfig{})
		t.Cleanup(ag.Close)
		ag.AddSession("c", Session{UserID: "alice"})
		return contract{
			srv: ag,
			request: func(t *testing.T) *http.Request {
				req := newRequest(t, http.MethodGet, ag.ResolveURL(), nil)
				req.AddCookie(&http.Cookie{Name: "session", Value: "c"})
				return req
			},
			valid: func(res *http.Response, _ []byte) bool {
				return res.StatusCode == http.StatusOK && res.Header.Get(HeaderSessionValid) == "true"
			},
			unparsable: func(res *http.Response, _ []byte) bool {
				_, err := strconv.ParseBool(res.Header.Get(HeaderUserAnonymous))
				return len(res.Header.Values(HeaderSessionValid)) != 1 && err != nil
			},
		}
	},
	"json": func(t *testing.T) contract {
		j := NewJSON(JSONConfig{})
		t.Cleanup(j.Close)
		j.AddSession("c", JSONSession{ID: "s", IdentityID: "alice"})
		return contract{
			srv: j,
			request: func(t *testing.T) *http.Request {
				req := newRequest(t, http.MethodGet, j.WhoamiURL(), nil)
				req.AddCookie(&http.Cookie{Name: DefaultKratosCookie, Value: "c"})
				return req
			},
			valid: func(res *http.Response, body []byte) bool {
				var s struct {
					Active bool `json:"active"`
				}
				return res.StatusCode == http.StatusOK && json.Unmarshal(body, &s) == nil && s.Active
			},
			unparsable: notJSON,
		}
	},
	"introspection": func(t *testing.T) contract {
		in := NewIntrospection(IntrospectionConfig{})
		t.Cleanup(in.Close)
		in.AddToken("t", map[string]any{"sub": "alice"})
		return contract{
			srv: in,
			request: func(t *testing.T) *http.Request {
				req := newRequest(t, http.MethodPost, in.IntrospectURL(), strings.NewReader("token=t"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
				return req
			},
			valid: func(res *http.Response, body []byte) bool {
				var a struct {
					Active bool `json:"active"`
				}
				return res.StatusCode == http.StatusOK && json.Unmarshal(body, &a) == nil && a.Active
			},
			unparsable: notJSON,
		}
	},
}

// try does one request; the body is read so that errors mid-body count too.
func try(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestFaults(t *testing.T) {
	faults := map[string]struct {
		fault   Fault
		delay   time.Duration
		timeout time.Duration // client timeout (default 5s)
		check   func(t *testing.T, k contract, c *http.Client, res *http.Response, body []byte, err error, took time.Duration)
	}{
		"Status500": {fault: Status500, check: func(t *testing.T, _ contract, _ *http.Client, res *http.Response, _ []byte, err error, _ time.Duration) {
			if err != nil || res.StatusCode != http.StatusInternalServerError {
				t.Errorf("got %v, %v; want a 500", res, err)
			}
		}},
		"Slow past the client timeout": {fault: Slow, delay: 5 * time.Second, timeout: 100 * time.Millisecond,
			check: func(t *testing.T, _ contract, _ *http.Client, _ *http.Response, _ []byte, err error, took time.Duration) {
				if !isTimeout(err) {
					t.Errorf("err = %v, want a timeout", err)
				}
				if took > 2*time.Second {
					t.Errorf("took %v: the client timeout did not end the wait", took)
				}
			}},
		"Slow within the client timeout": {fault: Slow, delay: 50 * time.Millisecond,
			check: func(t *testing.T, k contract, _ *http.Client, res *http.Response, body []byte, err error, took time.Duration) {
				if err != nil || !k.valid(res, body) {
					t.Errorf("got %v, %s, %v; want the contract's answer", res, body, err)
				}
				if took < 50*time.Millisecond {
					t.Errorf("took %v, want at least the delay", took)
				}
			}},
		"Refuse": {fault: Refuse, check: func(t *testing.T, k contract, c *http.Client, _ *http.Response, _ []byte, err error, _ time.Duration) {
			// The first attempt may land on the keep-alive connection
			// the server just dropped; any error will do there. A new
			// connection must be refused.
			if err == nil {
				t.Fatal("request succeeded against a refusing server")
			}
			if _, _, err := try(c, k.request(t)); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("err = %v, want connection refused", err)
			}
			if got := k.srv.Calls(); got != 1 {
				t.Errorf("Calls = %d, want 1 (the warm-up only)", got)
			}
		}},
		"Reset": {fault: Reset, check: func(t *testing.T, _ contract, _ *http.Client, res *http.Response, _ []byte, err error, _ time.Duration) {
			if err == nil || errors.Is(err, syscall.ECONNREFUSED) || isTimeout(err) {
				t.Errorf("got %v, %v; want a transport error", res, err)
			}
		}},
		"Garbage": {fault: Garbage, check: func(t *testing.T, k contract, _ *http.Client, res *http.Response, body []byte, err error, _ time.Duration) {
			if err != nil || res.StatusCode != http.StatusOK || !k.unparsable(res, body) {
				t.Errorf("got %v, %q, %v; want an unparsable 200", res, body, err)
			}
		}},
	}
	for cname, newContract := range contracts {
		for fname, tc := range faults {
			t.Run(cname+"/"+fname, func(t *testing.T) {
				t.Parallel()
				k := newContract(t)
				timeout := tc.timeout
				if timeout == 0 {
					timeout = 5 * time.Second
				}
				c := newClient(t, timeout)
				// Warm up: proves the contract works and leaves a
				// keep-alive connection for the fault to deal with.
				if res, body, err := try(c, k.request(t)); err != nil || !k.valid(res, body) {
					t.Fatalf("before the fault: %v, %s, %v", res, body, err)
				}
				url := k.srv.URL()
				k.srv.SetDelay(tc.delay)
				k.srv.SetFault(tc.fault)
				start := time.Now()
				res, body, err := try(c, k.request(t))
				tc.check(t, k, c, res, body, err, time.Since(start))

				if err := k.srv.Restore(); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if k.srv.URL() != url {
					t.Errorf("URL after Restore = %s, want %s", k.srv.URL(), url)
				}
				if res, body, err := try(newClient(t, 5*time.Second), k.request(t)); err != nil || !k.valid(res, body) {
					t.Errorf("after Restore: %v, %s, %v", res, body, err)
				}
			})
		}
	}
}

func TestSetFaultLeavesRefuse(t *testing.T) {
	k := contracts["authgear"](t)
	k.srv.SetFault(Refuse)
	if _, _, err := try(newClient(t, 5*time.Second), k.request(t)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want connection refused", err)
	}
	k.srv.SetFault(Status500) // listens again, and fails the new way
	if res, _, err := try(newClient(t, 5*time.Second), k.request(t)); err != nil || res.StatusCode != http.StatusInternalServerError {
		t.Errorf("got %v, %v; want a 500", res, err)
	}
}

// TestCloseCutsSlowShort checks that a test which forgets a client timeout
// still ends when it closes the server, and gets no answer that looks real.
func TestCloseCutsSlowShort(t *testing.T) {
	for name, newContract := range contracts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.srv.SetFault(Slow) // DefaultDelay: far longer than this test
			c, req := newClient(t, 0), k.request(t)
			errc := make(chan error, 1)
			go func() {
				_, _, err := try(c, req)
				errc <- err
			}()
			deadline := time.Now().Add(2 * time.Second)
			for k.srv.Calls() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			start := time.Now()
			k.srv.Close()
			select {
			case err := <-errc:
				if err == nil {
					t.Error("the slow request got an answer; want the connection dropped")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the slow request outlived Close")
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("Close took %v", took)
			}
		})
	}
}

func TestCloseWhileRefused(t *testing.T) {
	k := contracts["json"](t)
	k.srv.SetFault(Refuse)
	k.srv.Close()
	k.srv.Close() // twice is harmless
}

func TestRefusedURL(t *testing.T) {
	u, err := RefusedURL()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("URL = %s, want a loopback URL", u)
	}
	if _, _, err := try(newClient(t, 5*time.Second), newRequest(t, http.MethodGet, u, nil)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want connection refused", err)
	}
}

func TestLastRequest(t *testing.T) {
	in := NewIntrospection(IntrospectionConfig{})
	t.Cleanup(in.Close)
	if in.LastRequest() != nil || in.Calls() != 0 {
		t.Fatal("a fresh server has a last request")
	}
	req := newRequest(t, http.MethodPost, in.IntrospectURL()+"?q=1", strings.NewReader("token=t&token_type_hint=access_token"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("authgate", "authgate-secret")
	if _, _, err := try(newClient(t, 5*time.Second), req); err != nil {
		t.Fatal(err)
	}
	got := in.LastRequest()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("authgate:authgate-secret"))
	if got.Method != http.MethodPost || got.Path != IntrospectPath || got.RawQuery != "q=1" ||
		got.Header.Get("Authorization") != wantAuth || got.Form.Get("token") != "t" ||
		got.Form.Get("token_type_hint") != "access_token" || got.Form.Has("q") || string(got.Body) != "token=t&token_type_hint=access_token" {
		t.Errorf("LastRequest = %+v", got)
	}
	// The record is a copy: a test that edits it cannot change the next.
	got.Header.Set("Authorization", "x")
	got.Form.Set("token", "x")
	if again := in.LastRequest(); again.Header.Get("Authorization") != wantAuth || again.Form.Get("token") != "t" {
		t.Errorf("LastRequest shares state with its copies: %+v", again)
	}
}

func TestFaultString(t *testing.T) {
	tests := map[Fault]string{None: "None", Status500: "Status500", Slow: "Slow", Refuse: "Refuse",
		Reset: "Reset", Garbage: "Garbage", Fault(42): "Fault(42)"}
	for f, want := range tests {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(f), got, want)
		}
	}
}
