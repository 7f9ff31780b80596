// Package decision is the heart of authgate: Decide takes a canonical
// request and a policy snapshot and returns a transport-agnostic Decision.
// Every adapter (Envoy gRPC, nginx/Traefik HTTP) calls the same Decide, so a
// request gets the same verdict and identity headers whichever way it came.
package decision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/store"
)

// Reason is why a decision came out as it did. The set is closed so it can be
// a metric label.
type Reason string

// The reasons.
const (
	ReasonAllowed         Reason = "allowed"
	ReasonAnonymous       Reason = "anonymous"
	ReasonNoCredential    Reason = "no_credential"
	ReasonInvalidToken    Reason = "invalid_token"
	ReasonExpired         Reason = "expired"
	ReasonConditionFailed Reason = "condition_failed"
	ReasonUnknownHost     Reason = "unknown_host"
	ReasonNoRule          Reason = "no_rule"
	ReasonDependencyError Reason = "dependency_error"
	ReasonDryRunDeny      Reason = "dry_run_deny"
	ReasonBadRequest      Reason = "bad_request"
	ReasonNotReady        Reason = "not_ready"
	ReasonInternalError   Reason = "internal_error"
)

// Header is one header name and value.
type Header struct {
	Name  string // canonical MIME form, as HTTP/1.1 writes it
	Value string
	// Key is Name in lower case, as HTTP/2 and Envoy carry it, when the
	// policy compiled it beforehand; "" means the transport lowers Name.
	Key string
}

// Decision is everything an adapter needs to answer.
type Decision struct {
	Allow  bool
	Status int // 200, 302 (sign-in, only when the request allows it), 400, 401, 403, 503
	Reason Reason
	// WouldReason is the enforced outcome's reason when a DryRun policy
	// allowed a request it would have denied.
	WouldReason Reason
	// Detail explains the reason for people (authgate check, debug logs). It
	// never contains a credential.
	Detail string

	Policy        string // namespace/name
	Rule          string
	Authenticator string
	Identity      *authn.Identity

	// Set are the identity headers for the upstream (overwrite).
	// Set and Remove are shared between decisions: read them, never
	// modify them.
	Set []Header
	// Remove are headers to strip from the upstream request: every identity
	// header the policy may set that Set does not, and underscore variants.
	Remove []string
	// RemoveJoined is Remove joined with ",", as Envoy's HTTP ext_authz
	// reads x-envoy-auth-headers-to-remove, made once per list; "" when not
	// made (a Decision built by hand): the adapter joins Remove then.
	RemoveJoined string
	// HeadersUTF8 says Set and Remove were found UTF-8 when they were
	// built, once per list, so the gRPC adapter need not check them per
	// request; false means not known.
	HeadersUTF8 bool
	// DenyHeaders go on a denial (WWW-Authenticate).
	DenyHeaders []Header
	// MaxAge is how long a proxy may cache an allow; 0 means do not cache.
	MaxAge time.Duration

	// compiled is the policy that decided, nil when none did: the engine
	// counts the decision on the policy's own series (Engine.Record).
	compiled *store.Compiled
	// rejected is set when a credential was presented but rejected on a rule
	// that allows anonymous requests (the authgear preset says so upstream).
	rejected bool
	// omitReason keeps the reason code out of a denial's body, as the
	// policy or the server asked (see Options.explain).
	omitReason bool
}

// Options tune Decide.
type Options struct {
	// Now replaces the clock in tests.
	Now func() time.Time
	// at is the time the Engine started deciding: one clock read serves the
	// latency and the decision.
	at time.Time
	// OmitReason keeps the reason code from clients for denials whose
	// policy does not say (spec.response.denyReason) and for denials without
	// a policy (unknown host, bad request, not ready). The zero value sends it.
	OmitReason bool
}

func (o *Options) now() time.Time {
	switch {
	case o.Now != nil:
		return o.Now()
	case !o.at.IsZero():
		return o.at
	}
	return time.Now()
}

// Decide decides one request against a snapshot. It never panics on hostile
// input and never allows on error: unknown host, no rule, invalid input and
// dependency failures all deny.
func Decide(ctx context.Context, r *request.Request, snap *store.Snapshot, opts Options) *Decision {
	if snap == nil {
		d := &Decision{Status: http.StatusServiceUnavailable, Reason: ReasonNotReady, Detail: "no policy snapshot loaded yet"}
		opts.explain(d, "")
		return d
	}
	c := snap.Lookup(r.Host)
	if c == nil {
		d := &Decision{Status: http.StatusForbidden, Reason: ReasonUnknownHost, Detail: fmt.Sprintf("no policy claims host %q", r.Host)}
		opts.explain(d, "")
		return d
	}
	d := decide(ctx, r, c, r.Path, opts)
	d = otherReadings(ctx, r, c, d, opts)
	d.Policy, d.compiled = c.Key, c
	if d.Status == http.StatusUnauthorized && c.Policy.SignInURL != "" && r.RedirectOK && r.Browser() {
		// A browser without a valid credential is sent to sign in; API
		// clients keep the 401 and its challenge.
		d.Status = http.StatusFound
		d.DenyHeaders = []Header{{Name: "Location", Value: SignInLocation(c.Policy.SignInURL, r)}}
	}
	if !d.Allow && c.Policy.DryRun {
		d.WouldReason, d.Reason = d.Reason, ReasonDryRunDeny
		d.Detail = fmt.Sprintf("DryRun: would have answered %d (%s): %s", d.Status, d.WouldReason, d.Detail)
		d.Allow, d.Status, d.DenyHeaders, d.MaxAge = true, http.StatusOK, nil, 0
	}
	if d.Allow {
		setHeaders(d, c)
	} else {
		opts.explain(d, c.Policy.Response.DenyReason)
	}
	return d
}

// ReasonHeader carries a denial's reason code to the client, so that the
// person on call can tell invalid_token from no_rule without the logs. The
// value is only ever a Reason: never a policy, rule or claim name.
const ReasonHeader = "X-Authgate-Reason"

// explain adds the reason code to a denial unless mode (the policy's
// spec.response.denyReason; "" for the server's default) omits it. Only
// denials come here: the allow path pays nothing for it.
func (o Options) explain(d *Decision, mode string) {
	omit := o.OmitReason
	switch mode {
	case policy.DenyReasonSend:
		omit = false
	case policy.DenyReasonOmit:
		omit = true
	}
	if omit {
		d.omitReason = true
		return
	}
	d.DenyHeaders = append(d.DenyHeaders, Header{Name: ReasonHeader, Value: string(d.Reason)})
}

// otherReadings decides the other ways an application may read the path
// (request.Readings) when they fall under another rule, and lets the request
// through only if every reading is allowed: "/admin/../public" is "/public"
// to authgate but "/admin/..." to a router that does not resolve dots.
func otherReadings(ctx context.Context, r *request.Request, c *store.Compiled, d *Decision, opts Options) *Decision {
	if !d.Allow || len(r.AltPaths) == 0 {
		return d
	}
	for _, alt := range r.AltPaths {
		rule := c.Match(r.Method, alt)
		if rule != nil && rule.Name == d.Rule {
			continue
		}
		if other := decide(ctx, r, c, alt, opts); !other.Allow {
			other.Detail = fmt.Sprintf("the path %q also reads as %q, which is denied: %s", r.Path, alt, other.Detail)
			return other
		}
	}
	return d
}

func decide(ctx context.Context, r *request.Request, c *store.Compiled, path string, opts Options) *Decision {
	rule := c.Match(r.Method, path)
	if rule == nil {
		return &Decision{Status: http.StatusForbidden, Reason: ReasonNoRule, Detail: fmt.Sprintf("no rule matches %s %s", r.Method, path)}
	}
	d := &Decision{Rule: rule.Name}

	var presented authn.Authenticator
	for _, a := range rule.Authenticators {
		if a.Present(r) {
			presented = a
			break
		}
	}
	if presented == nil {
		if rule.AllowAnonymous {
			d.Allow, d.Status, d.Reason = true, http.StatusOK, ReasonAnonymous
			d.Detail = fmt.Sprintf("rule %q allows anonymous requests and no credential was presented", rule.Name)
			return d
		}
		d.Status, d.Reason = http.StatusUnauthorized, ReasonNoCredential
		d.Detail = fmt.Sprintf("rule %q needs a credential and none was presented", rule.Name)
		d.DenyHeaders = []Header{{Name: "WWW-Authenticate", Value: bearerChallenge(r.Host, "")}}
		return d
	}
	d.Authenticator = presented.Name()

	id, err := presented.Authenticate(ctx, r)
	switch {
	case err == nil:
	case errors.Is(err, authn.ErrInvalid):
		d.Reason = ReasonInvalidToken
		if errors.Is(err, authn.ErrExpired) {
			d.Reason = ReasonExpired
		}
		if rule.AllowAnonymous {
			// A bad credential on a public rule is treated as none: the page
			// stays public, but no identity reaches the upstream.
			d.Allow, d.Status = true, http.StatusOK
			d.Detail = fmt.Sprintf("authenticator %q rejected the credential (%s); rule %q allows anonymous requests", d.Authenticator, redact(err, r), rule.Name)
			d.Reason = ReasonAnonymous
			d.rejected = true
			return d
		}
		d.Status = http.StatusUnauthorized
		d.Detail = fmt.Sprintf("authenticator %q rejected the credential: %s", d.Authenticator, redact(err, r))
		d.DenyHeaders = []Header{{Name: "WWW-Authenticate", Value: bearerChallenge(r.Host, "invalid_token")}}
		return d
	default:
		d.Status, d.Reason = http.StatusServiceUnavailable, ReasonDependencyError
		d.Detail = fmt.Sprintf("authenticator %q could not check the credential: %s", d.Authenticator, redact(err, r))
		return d
	}
	d.Identity = id

	for i := range rule.Require {
		cond := &rule.Require[i]
		if ok, why := evaluate(cond, id.Claims); !ok {
			d.Status, d.Reason = http.StatusForbidden, ReasonConditionFailed
			d.Detail = fmt.Sprintf("rule %q require[%d]: %s", rule.Name, i, why)
			if cond.Claim == "scope" || cond.Claim == "scp" {
				d.DenyHeaders = []Header{{Name: "WWW-Authenticate", Value: bearerChallenge(r.Host, "insufficient_scope")}}
			}
			return d
		}
	}
	// No Detail on the common path: the names above say it all, and a
	// formatted string per allowed request is a cost for nothing.
	d.Allow, d.Status, d.Reason = true, http.StatusOK, ReasonAllowed
	if !id.ExpiresAt.IsZero() {
		if left := id.ExpiresAt.Sub(opts.now()).Truncate(time.Second); left > 0 {
			d.MaxAge = left
		}
	}
	return d
}

// SignInLocation fills the sign-in URL template: "{url}" becomes the
// original URL, query-escaped.
func SignInLocation(template string, r *request.Request) string {
	return strings.ReplaceAll(template, "{url}", url.QueryEscape(r.URL()))
}

// bearerChallenge builds an RFC 6750 WWW-Authenticate value. The host is
// canonical (no quotes or backslashes), so it needs no escaping.
func bearerChallenge(host, errCode string) string {
	v := `Bearer realm="` + host + `"`
	if errCode != "" {
		v += `, error="` + errCode + `"`
	}
	return v
}
