// Package bench holds benchmarks of whole decisions with real authenticators
// (JWT verification against a loopback issuer, cookie sessions against a
// loopback Authgear resolver). Performance goals live here, in numbers
// anyone can reproduce with `make bench`, never in timed tests.
package bench

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
