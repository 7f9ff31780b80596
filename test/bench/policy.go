// Package bench holds benchmarks of whole decisions with real authenticators
// (JWT verification against a loopback issuer, cookie sessions against a
// loopback Authgear resolver). Performance goals live here, in numbers
// anyone can reproduce with `make bench`, never in timed tests.
package bench

import (
	"bytes"
	"fmt"
	"strings"
)

// Policies is the policy every benchmark here and the load tool
// (cmd/authgate-load) decide with, so their figures describe the same
// work: shop.example.com behind a JWT authenticator ({{ISSUER}}) and an
// Authgear session one ({{RESOLVER}}), the authgear preset and one header of
// its own.
const Policies = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: shop, namespace: shop}
spec:
  hosts: ["shop.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "{{ISSUER}}", audiences: ["shop"]}
  - name: web
    session:
      cookies: [session]
      resolver: {url: "{{RESOLVER}}"}
  rules:
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
    headers:
      X-User-Id: {claim: sub}
`

// Tenants renders n copies of Policies as one multi-document YAML, each a
// tenant of its own (name p<i>, namespace ns<i%100>, hosts h<i>.example.com
// and *.w<i>.example.com) sharing one issuer and one resolver, as tenants
// of one identity provider do: the scale benchmarks' 10,000 policies.
func Tenants(n int, issuer, resolver string) []byte {
	var buf bytes.Buffer
	for i := range n {
		buf.WriteString("---\n")
		// Writing to a bytes.Buffer does not fail.
		_, _ = strings.NewReplacer(
			"{{ISSUER}}", issuer, "{{RESOLVER}}", resolver,
			"name: shop, namespace: shop", fmt.Sprintf("name: p%d, namespace: ns%d", i, i%100),
			`"shop.example.com"`, fmt.Sprintf(`"h%d.example.com", "*.w%d.example.com"`, i, i),
		).WriteString(&buf, Policies)
	}
	return buf.Bytes()
}
