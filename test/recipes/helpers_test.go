package recipes

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/pkg/store"
)

// repoRoot is where the shipped files are, seen from this package.
const repoRoot = "../.."

// The Helm chart's names for authgate (charts/authgate): Service authgate in
// namespace authgate, gRPC on the port named grpc, the HTTP auth endpoint on
// 8080. Every recipe must point at these.
const (
	chartService   = "authgate"
	chartNamespace = "authgate"
	chartDNS       = "authgate.authgate.svc.cluster.local"
	chartGRPCPort  = 9001
	chartHTTPPort  = 8080
	authURL        = "http://authgate.authgate.svc.cluster.local:8080/auth"
)

// identityHeaders is every header a proxy's recipe must name: those
// authgate may set upstream (the default X-Auth-Request-User, the
// spec.response headers the sample policies use, and the authgear preset's,
// docs/policy.md) and the rest of store.AlwaysStripped, which authgate never
// sets and removes from every allowed request. A proxy whose recipe copies
// response headers by name must copy, and so overwrite or drop, each.
var identityHeaders = func() []string {
	hs := []string{"X-User-Id", "X-Tenant", "X-Gateway"}
	for _, h := range store.AlwaysStripped {
		if !slices.ContainsFunc(hs, func(s string) bool { return strings.EqualFold(s, h) }) {
			hs = append(hs, h)
		}
	}
	return hs
}()

// checkHeaderList fails unless names holds every identity header exactly
// once (case-insensitively) and nothing else.
func checkHeaderList(t *testing.T, what string, names []string) {
	t.Helper()
	seen := map[string]int{}
	for _, n := range names {
		seen[strings.ToLower(strings.TrimSpace(n))]++
	}
	for _, want := range identityHeaders {
		switch seen[strings.ToLower(want)] {
		case 0:
			t.Errorf("%s lacks %s: a client could forge it and the app would believe it", what, want)
		case 1:
		default:
			t.Errorf("%s lists %s more than once", what, want)
		}
		delete(seen, strings.ToLower(want))
	}
	for n := range seen {
		t.Errorf("%s lists %q, which authgate neither sets nor strips", what, n)
	}
}

// readShipped reads a file under the repository root.
func readShipped(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatalf("failed to read the shipped %s: %v", rel, err)
	}
	return data
}

// documents splits a multi-document YAML file on its "---" lines and drops
// documents that hold only comments.
func documents(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		for _, line := range strings.Split(cur.String(), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				docs = append(docs, bytes.Clone(cur.Bytes()))
				break
			}
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, "\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

// typeMeta is what every Kubernetes object starts with.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// objects indexes a multi-document manifest by kind. Each document must have
// apiVersion, kind, metadata.name and metadata.namespace.
func objects(t *testing.T, rel string) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for i, doc := range documents(readShipped(t, rel)) {
		var tm typeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s document %d: %v", rel, i+1, err)
		}
		if tm.APIVersion == "" || tm.Kind == "" || tm.Metadata.Name == "" || tm.Metadata.Namespace == "" {
			t.Fatalf("%s document %d: apiVersion, kind, metadata.name and metadata.namespace are all required, got %+v", rel, i+1, tm)
		}
		out[tm.Kind] = append(out[tm.Kind], doc)
	}
	return out
}

// strict decodes one YAML document into v, refusing fields v does not
// declare, duplicate keys, and scalars of the wrong type: v mirrors the
// documented schema, so an unknown field is a misspelt or invented one,
// which a real apiserver or istiod would drop or refuse. YAML is turned into
// JSON first without looking at v (as Kubernetes and istiod do), so an
// unquoted 503 stays a number and does not fill a string field.
func strict(t *testing.T, what string, doc []byte, v any) {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("%s is not valid YAML: %v", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s does not match the documented schema: %v", what, err)
	}
}

// recipePolicies are the AuthPolicies the behavioural recipe tests run:
// shop.example.com as in config/samples/shop.yaml, with a sign-in page for
// browsers (Envoy and Traefik pass authgate's 302 on); blog.example.com, all
// public, so a test can tell "decided for the wrong host" from "denied"; and
// down.example.com, whose issuer fails, for the 503 of a dependency failure.
const recipePolicies = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: shop, namespace: shop}
spec:
  hosts: ["shop.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: {{ISSUER}}, audiences: ["shop"]}
  rules:
  - name: public
    match: {pathPrefix: /public, methods: [GET, HEAD]}
    allowAnonymous: true
  - name: admin
    match: {pathPrefix: /admin}
    require:
    - {claim: "https://authgear.com/claims/user/roles", contains: admin}
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
    headers:
      X-User-Id: {claim: sub}
      X-Tenant: {claim: tenant}
      X-Gateway: {value: authgate}
  signIn: {url: "https://auth.example.com/login?redirect_uri={url}"}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: blog, namespace: blog}
spec:
  hosts: ["blog.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: {{ISSUER}}, audiences: ["blog"]}
  rules:
  - name: everything
    match: {pathPrefix: /}
    allowAnonymous: true
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: down, namespace: ops}
spec:
  hosts: ["down.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: {{DOWN}}, audiences: ["ops"]}
  rules:
  - name: all
    match: {pathPrefix: /}
`

// authgate is an in-process authgate serving recipePolicies on loopback.
type authgate struct {
	srv  *server.Server
	iss  *devissuer.Issuer // trusted by shop and blog
	down *devissuer.Issuer // trusted by down; always failing
}

// startAuthgate starts authgate on 127.0.0.1:0 with the given trusted
// proxies (nil: none) and waits until it serves the recipe policies.
func startAuthgate(t *testing.T, trusted ...string) *authgate {
	t.Helper()
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatalf("failed to start the development issuer: %v", err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	down, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatalf("failed to start the failing issuer: %v", err)
	}
	t.Cleanup(func() { _ = down.Close() })
	down.SetFailing(true)

	var prefixes []netip.Prefix
	for _, p := range trusted {
		prefixes = append(prefixes, netip.MustParsePrefix(p))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		TrustedProxies: prefixes,
		Log:            logr.Discard(), ShutdownGrace: time.Second,
	})
	if err != nil {
		cancel()
		t.Fatalf("failed to create authgate: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("authgate: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("authgate did not stop within 10s")
		}
	})

	yml := strings.NewReplacer("{{ISSUER}}", iss.URL, "{{DOWN}}", down.URL).Replace(recipePolicies)
	ps, err := source.ParseFile("recipes.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatalf("the recipe policies do not load: %v", err)
	}
	srv.Apply(ps)
	if !srv.Ready() {
		t.Fatal("authgate is not ready after the policies were applied")
	}
	return &authgate{srv: srv, iss: iss, down: down}
}

// userClaim prefixes the claims Authgear puts in its access tokens.
const userClaim = "https://authgear.com/claims/user/"

// mint signs a token for the shop policy's audience.
func (a *authgate) mint(t *testing.T, sub string, claims map[string]any) string {
	t.Helper()
	tok, err := a.iss.Mint(devissuer.Token{Subject: sub, Audience: []string{"shop"}, Claims: claims})
	if err != nil {
		t.Fatalf("failed to mint a token: %v", err)
	}
	return tok
}

// mintDown signs a token on the failing issuer, for the down policy: it can
// only be checked by fetching keys that never come, a dependency failure.
func (a *authgate) mintDown(t *testing.T) string {
	t.Helper()
	tok, err := a.down.Mint(devissuer.Token{Subject: "op", Audience: []string{"ops"}})
	if err != nil {
		t.Fatalf("failed to mint a token: %v", err)
	}
	return tok
}

// forged are identity headers a client makes up. None of these values may
// reach the app.
var forged = map[string]string{
	"X-User-Id":                "mallory",
	"X-Auth-Request-User":      "mallory",
	"X-Tenant":                 "evil",
	"X-Authgear-User-Id":       "mallory",
	"X-Authgear-User-Roles":    "admin",
	"X-Authgear-Session-Valid": "true",
}

// client does not follow redirects and ignores the environment's proxy.
func client(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// do sends one request and returns the response with its body read.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

// checkIdentity fails unless h carries exactly the identity headers in want
// (others absent) and no forged value anywhere.
func checkIdentity(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for _, name := range identityHeaders {
		got := h.Values(name)
		w, ok := want[name]
		switch {
		case !ok:
			if len(got) != 0 {
				t.Errorf("the app saw %s: %q, want none", name, got)
			}
		case !slices.Equal(got, []string{w}):
			t.Errorf("the app saw %s: %q, want [%q]", name, got, w)
		}
	}
	for name, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, "mallory") || strings.Contains(v, "evil") {
				t.Errorf("the app saw a forged value in %s: %q", name, v)
			}
		}
	}
}
