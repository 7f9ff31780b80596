package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/policy"
)

// httpClient bounds each HTTP call, so no wait outlives its bound on a
// server that accepts and never answers.
var httpClient = &http.Client{Timeout: 2 * time.Second}

// checker asks a running authgate for decisions on e2eHost the way the
// proxies do: nginx's auth_request over HTTP, Envoy's ext_authz over gRPC.
type checker struct {
	httpAddr string
	grpc     authv3.AuthorizationClient
}

// want checks that both transports decide path as expected; user is the
// X-Auth-Request-User an allow must carry ("" for none).
func (c checker) want(path, token string, wantHTTP int, wantGRPC codes.Code, user string) error {
	status, got, err := c.http(path, token)
	if err != nil {
		return err
	}
	if status != wantHTTP || got != user {
		return fmt.Errorf("HTTP %s: %d user %q, want %d user %q", path, status, got, wantHTTP, user)
	}
	res, err := c.check(path, token)
	if err != nil {
		return err
	}
	code := codes.Code(res.GetStatus().GetCode())
	got = ""
	for _, h := range res.GetOkResponse().GetHeaders() {
		if strings.EqualFold(h.GetHeader().GetKey(), policy.DefaultUserHeader) {
			got = h.GetHeader().GetValue()
		}
	}
	if code != wantGRPC || got != user {
		return fmt.Errorf("gRPC %s: %s user %q, want %s user %q", path, code, got, wantGRPC, user)
	}
	return nil
}

// wantUnknownHost checks that both transports deny path because no policy
// claims e2eHost.
func (c checker) wantUnknownHost(path, token string) error {
	status, _, err := c.http(path, token)
	if err != nil {
		return err
	}
	if status != http.StatusForbidden {
		return fmt.Errorf("HTTP %s: %d, want 403", path, status)
	}
	res, err := c.check(path, token)
	if err != nil {
		return err
	}
	code, reason := codes.Code(res.GetStatus().GetCode()), res.GetStatus().GetMessage()
	if code != codes.PermissionDenied || reason != string(decision.ReasonUnknownHost) {
		return fmt.Errorf("gRPC %s: %s %q, want %s %q", path, code, reason, codes.PermissionDenied, decision.ReasonUnknownHost)
	}
	return nil
}

func (c checker) http(path, token string) (status int, user string, err error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+c.httpAddr+"/auth", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-Original-URL", "https://"+e2eHost+path)
	req.Header.Set("X-Original-Method", http.MethodGet)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get(policy.DefaultUserHeader), nil
}

func (c checker) check(path, token string) (*authv3.CheckResponse, error) {
	headers := map[string]string{}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := c.grpc.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: http.MethodGet, Scheme: "https", Host: e2eHost, Path: path, Headers: headers,
		}},
	}})
	if err != nil {
		return nil, fmt.Errorf("gRPC Check %s: %w", path, err)
	}
	return res, nil
}
