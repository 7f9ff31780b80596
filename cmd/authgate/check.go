package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/pkg/store"
)

// headerFlags collects repeated -H 'Name: value' flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// check decides one request against the policies in a folder, or those of
// a live cluster, and prints the decision with its reason chain. It reports
// whether the request is allowed.
func check(ctx context.Context, args []string, stdout, stderr io.Writer) (bool, error) {
	fset := flag.NewFlagSet("check", flag.ContinueOnError)
	fset.SetOutput(stderr)
	policies := fset.String("policies", "", "folder of AuthPolicy YAML files")
	kubeconfig := fset.String("kubeconfig", "", "decide against the AuthPolicies (and referenced Secrets) of the cluster this kubeconfig reaches, instead of --policies")
	namespace := fset.String("namespace", "", "with --kubeconfig: only AuthPolicies in this namespace (default all, like serve)")
	selector := fset.String("label-selector", "", "with --kubeconfig: only AuthPolicies matching this label selector, as serve --label-selector")
	rawURL := fset.String("url", "", "the original request's URL, e.g. https://shop.example.com/admin")
	method := fset.String("X", "GET", "the original request's method")
	var headers headerFlags
	fset.Var(&headers, "H", "a request header 'Name: value' (repeatable)")
	output := fset.String("output", "text", "text or json")
	if err := fset.Parse(args); err != nil {
		return false, err
	}
	if *output != "text" && *output != "json" {
		return false, fmt.Errorf("--output must be text or json, not %q", *output)
	}
	if (*policies == "") == (*kubeconfig == "") || *rawURL == "" {
		return false, errors.New("check needs --url and one of --policies or --kubeconfig")
	}
	if *kubeconfig == "" && (*namespace != "" || *selector != "") {
		return false, errors.New("--namespace and --label-selector select cluster policies: they need --kubeconfig")
	}
	r, err := checkRequest(*rawURL, *method, headers)
	if err != nil {
		return false, err
	}

	srv, err := server.New(ctx, server.Config{Log: logr.Discard()})
	if err != nil {
		return false, err
	}
	var problems []store.Problem
	if *kubeconfig != "" {
		ps, invalid, err := clusterPolicies(ctx, *kubeconfig, *namespace, *selector, stderr)
		if err != nil {
			return false, err
		}
		problems = invalid
		srv.Apply(ps)
	} else {
		folder := &source.Folder{Dir: *policies, Log: logr.Discard(), OnUpdate: func(ps []*policy.Policy) { srv.Apply(ps) }}
		if err := folder.Load(); err != nil {
			fmt.Fprintln(stderr, "warning:", err)
		}
	}
	d := srv.Engine().Check(ctx, r)
	problems = append(problems, srv.Store().Load().Problems()...)
	if *output == "json" {
		return d.Allow, printJSON(stdout, r, d, problems)
	}
	printDecision(stdout, r, d)
	for _, p := range problems {
		fmt.Fprintf(stdout, "note: policy %s is not in force (%s): %s\n", p.Policy, p.Reason, p.Message)
	}
	return d.Allow, nil
}

func checkRequest(rawURL, method string, headers []string) (*request.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--url must be an absolute URL: %q", rawURL)
	}
	r := &request.Request{Transport: "check", Method: strings.ToUpper(method), Scheme: u.Scheme, Headers: map[string]string{}}
	if r.Host, err = request.CanonicalHost(u.Host); err != nil {
		return nil, err
	}
	target := u.EscapedPath()
	if target == "" {
		target = "/"
	}
	if u.RawQuery != "" {
		target += "?" + u.RawQuery
	}
	if err = r.SetTarget(target); err != nil {
		return nil, err
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if prev, ok := r.Headers[name]; ok {
			sep := ", "
			if name == "cookie" {
				sep = "; "
			}
			value = prev + sep + value
		}
		r.Headers[name] = value
	}
	return r, nil
}

func printDecision(w io.Writer, r *request.Request, d *decision.Decision) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	verdict := "DENY"
	if d.Allow {
		verdict = "ALLOW"
	}
	fmt.Fprintf(tw, "request:\t%s %s\n", r.Method, r.URL())
	fmt.Fprintf(tw, "decision:\t%s %d (%s)\n", verdict, d.Status, d.Reason)
	if d.WouldReason != "" {
		fmt.Fprintf(tw, "enforced, it would be:\t%s\n", d.WouldReason)
	}
	fmt.Fprintf(tw, "policy:\t%s\n", dash(d.Policy))
	fmt.Fprintf(tw, "rule:\t%s\n", dash(d.Rule))
	fmt.Fprintf(tw, "authenticator:\t%s\n", dash(d.Authenticator))
	if d.Identity != nil {
		fmt.Fprintf(tw, "subject:\t%s\n", d.Identity.Subject)
	}
	if d.Detail != "" {
		fmt.Fprintf(tw, "why:\t%s\n", d.Detail)
	}
	for _, h := range d.Set {
		fmt.Fprintf(tw, "upstream header:\t%s: %s\n", h.Name, h.Value)
	}
	if len(d.Remove) > 0 {
		fmt.Fprintf(tw, "removed headers:\t%s\n", strings.Join(d.Remove, ", "))
	}
	for _, h := range d.DenyHeaders {
		fmt.Fprintf(tw, "response header:\t%s: %s\n", h.Name, h.Value)
	}
	if d.Allow && d.MaxAge > 0 {
		fmt.Fprintf(tw, "cacheable for:\t%s\n", d.MaxAge)
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkResult is `authgate check --output json`: the decision and why,
// for scripts. It never contains the credential.
type checkResult struct {
	Request       string            `json:"request"`
	Allow         bool              `json:"allow"`
	Status        int               `json:"status"`
	Reason        string            `json:"reason"`
	WouldReason   string            `json:"wouldReason,omitempty"`
	Policy        string            `json:"policy,omitempty"`
	Rule          string            `json:"rule,omitempty"`
	Authenticator string            `json:"authenticator,omitempty"`
	Subject       string            `json:"subject,omitempty"`
	Detail        string            `json:"detail,omitempty"`
	Set           map[string]string `json:"upstreamHeaders,omitempty"`
	Remove        []string          `json:"removedHeaders,omitempty"`
	DenyHeaders   map[string]string `json:"responseHeaders,omitempty"`
	MaxAgeSeconds int               `json:"maxAgeSeconds,omitempty"`
	Problems      []store.Problem   `json:"policyProblems,omitempty"`
}

func printJSON(w io.Writer, r *request.Request, d *decision.Decision, problems []store.Problem) error {
	res := checkResult{
		Request: r.Method + " " + r.URL(), Allow: d.Allow, Status: d.Status, Reason: string(d.Reason),
		WouldReason: string(d.WouldReason), Policy: d.Policy, Rule: d.Rule, Authenticator: d.Authenticator,
		Detail: d.Detail, Remove: d.Remove, MaxAgeSeconds: int(d.MaxAge.Seconds()), Problems: problems,
	}
	if d.Identity != nil {
		res.Subject = d.Identity.Subject
	}
	headers := func(hs []decision.Header) map[string]string {
		if len(hs) == 0 {
			return nil
		}
		m := make(map[string]string, len(hs))
		for _, h := range hs {
			m[h.Name] = h.Value
		}
		return m
	}
	res.Set, res.DenyHeaders = headers(d.Set), headers(d.DenyHeaders)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
