package jwt

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxErrorBody bounds how much of a failed fetch's answer is kept.
const maxErrorBody = 4 << 10

// closeErrorBodies returns a copy of c whose transport reads and closes the
// body of every answer other than 200 before handing it on, with the body
// kept in memory. jwx's JWKS fetcher returns on a non-200 status without
// closing the body, so each failed fetch would otherwise leave a connection
// and its transport goroutines behind for as long as the IdP fails (found
// by goleak in this package's fault tests).
//
// c's Timeout moves into the transport as a context deadline: http.Client
// enforces its Timeout with a goroutine that waits for the body to be
// closed, which jwx does not do either.
func closeErrorBodies(c *http.Client) *http.Client {
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp := *c
	cp.Transport = errorBodyCloser{next: next, timeout: c.Timeout}
	cp.Timeout = 0
	return &cp
}

type errorBodyCloser struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t errorBodyCloser) RoundTrip(r *http.Request) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	if t.timeout > 0 {
		var ctx context.Context
		ctx, cancel = context.WithTimeout(r.Context(), t.timeout)
		r = r.WithContext(ctx)
	}
	res, err := t.next.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	if res.StatusCode == http.StatusOK {
		res.Body = &cancelAtEnd{ReadCloser: res.Body, cancel: cancel}
		return res, nil
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	_ = res.Body.Close()
	cancel()
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// cancelAtEnd releases the request's deadline once the body has been read
// to the end or closed, whichever the reader does.
type cancelAtEnd struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (b *cancelAtEnd) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.cancel)
	}
	return n, err
}

func (b *cancelAtEnd) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.cancel)
	return err
}
