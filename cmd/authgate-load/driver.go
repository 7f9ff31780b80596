package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// path is the request target of every request.
const path = "/api/cart?item=42"

// baseHeaders are the dozen headers a browser or app sends besides its
// credential, lower-case as Envoy passes them.
var baseHeaders = map[string]string{
	"user-agent":        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
	"accept":            "application/json",
	"accept-encoding":   "gzip, deflate, br",
	"accept-language":   "en-GB,en;q=0.9",
	"x-request-id":      "4c1b3e0a-5b7e-4d2f-9a61-0c2d7e8f9b10",
	"x-forwarded-for":   "203.0.113.7",
	"x-forwarded-proto": "https",
	"traceparent":       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	"sec-fetch-mode":    "cors",
	"sec-fetch-site":    "same-origin",
	"referer":           "https://shop.example.com/cart",
	"origin":            "https://shop.example.com",
}

// target sends one attempt and says whether the answer was the expected one.
type target interface {
	do(ctx context.Context, a attempt) error
	close()
}

// errVerdict marks an answer that is not the verdict the attempt expects.
var errVerdict = errors.New("unexpected verdict")

type grpcTarget struct {
	conns   []*grpc.ClientConn
	clients []authv3.AuthorizationClient
	next    atomic.Uint64
}

func newGRPCTarget(addr string, conns int) (*grpcTarget, error) {
	t := &grpcTarget{}
	for range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.close()
			return nil, fmt.Errorf("failed to dial %s: %w", addr, err)
		}
		t.conns = append(t.conns, c)
		t.clients = append(t.clients, authv3.NewAuthorizationClient(c))
	}
	return t, nil
}

func (t *grpcTarget) close() {
	for _, c := range t.conns {
		_ = c.Close()
	}
}

func (t *grpcTarget) do(ctx context.Context, a attempt) error {
	h := make(map[string]string, len(baseHeaders)+4)
	for k, v := range baseHeaders {
		h[k] = v
	}
	h[":authority"], h[":path"], h[":method"], h[":scheme"] = host, path, http.MethodGet, "https"
	h[a.header] = a.value
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "4c1b3e0a-5b7e-4d2f-9a61-0c2d7e8f9b10", Method: http.MethodGet, Host: host, Path: path,
			Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
		}},
	}}
	c := t.clients[t.next.Add(1)%uint64(len(t.clients))]
	res, err := c.Check(ctx, req)
	if err != nil {
		return err
	}
	code := codes.Code(res.GetStatus().GetCode())
	switch {
	case a.allow && code == codes.OK && res.GetOkResponse() != nil:
		return nil
	case !a.allow && code == codes.Unauthenticated && res.GetDeniedResponse().GetStatus().GetCode() == http.StatusUnauthorized:
		return nil
	}
	return fmt.Errorf("%w: gRPC %v, denied status %d, want allow=%t", errVerdict, code, res.GetDeniedResponse().GetStatus().GetCode(), a.allow)
}

type httpTarget struct {
	url    string
	client *http.Client
}

func newHTTPTarget(url string, conns int) *httpTarget {
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, MaxIdleConns: conns, IdleConnTimeout: time.Minute}
	return &httpTarget{url: url, client: &http.Client{Transport: tr}}
}

func (t *httpTarget) close() { t.client.CloseIdleConnections() }

func (t *httpTarget) do(ctx context.Context, a attempt) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return err
	}
	for k, v := range baseHeaders {
		req.Header.Set(k, v)
	}
	req.Header.Set(a.header, a.value)
	req.Header.Set("X-Original-URL", "https://"+host+path)
	req.Header.Set("X-Original-Method", http.MethodGet)
	res, err := t.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if (a.allow && res.StatusCode == http.StatusOK) || (!a.allow && res.StatusCode == http.StatusUnauthorized) {
		return nil
	}
	return fmt.Errorf("%w: HTTP %d, want allow=%t", errVerdict, res.StatusCode, a.allow)
}

// sample is what one closed-loop measurement saw.
type sample struct {
	n         int
	errors    int
	firstErr  error
	latencies []time.Duration // measured requests only, unsorted
	attempts  uint64          // requests started, warm-up included
	elapsed   time.Duration
}

// add merges o (a later slice of the same measurement) into s.
func (s *sample) add(o sample) {
	s.n += o.n
	s.errors += o.errors
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
	s.latencies = append(s.latencies, o.latencies...)
	s.attempts += o.attempts
	s.elapsed += o.elapsed
}

// drive runs workers in a closed loop against t: warm-up, then a measured
// window. Errors count in both; latencies only in the window.
func drive(ctx context.Context, t target, src feed, workers int, warmup, duration time.Duration) sample {
	var (
		counter atomic.Uint64
		wg      sync.WaitGroup
		mu      sync.Mutex
		out     sample
	)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs int
			var firstErr error
			for ctx.Err() == nil {
				a := src(counter.Add(1) - 1)
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				t0 := time.Now()
				err := t.do(rctx, a)
				t1 := time.Now()
				cancel()
				if t1.After(end) {
					break
				}
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				}
				if !t0.Before(measureFrom) {
					lat = append(lat, t1.Sub(t0))
				}
			}
			mu.Lock()
			out.latencies = append(out.latencies, lat...)
			out.errors += errs
			if out.firstErr == nil {
				out.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.n = len(out.latencies)
	out.attempts = counter.Load()
	out.elapsed = duration
	return out
}
