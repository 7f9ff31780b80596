package recipes

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

const ingressNginxRecipe = "config/ingress-nginx/ingress.yaml"

// ingress-nginx annotation names (kubernetes/ingress-nginx
// internal/ingress/annotations/authreq/main.go; documented at
// https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#external-authentication).
const (
	annAuthURL        = "nginx.ingress.kubernetes.io/auth-url"
	annResponseHeader = "nginx.ingress.kubernetes.io/auth-response-headers"
	annSignin         = "nginx.ingress.kubernetes.io/auth-signin"
	annSigninParam    = "nginx.ingress.kubernetes.io/auth-signin-redirect-param"
)

// headerName is stricter than ingress-nginx's own header validation: plain
// token characters without "_", which nginx would drop from a request.
var headerName = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// splitResponseHeaders reads auth-response-headers as ingress-nginx does
// (authreq.go: strings.Split on ",", each name trimmed and validated).
func splitResponseHeaders(t *testing.T, v string) []string {
	t.Helper()
	var out []string
	for _, h := range strings.Split(v, ",") {
		h = strings.TrimSpace(h)
		if !headerName.MatchString(h) {
			t.Errorf("auth-response-headers has an invalid name %q", h)
			continue
		}
		out = append(out, h)
	}
	return out
}

func TestIngressNginxRecipe(t *testing.T) {
	objs := objects(t, ingressNginxRecipe)
	if len(objs) != 1 || len(objs["Ingress"]) != 2 {
		t.Fatalf("want two Ingresses and nothing else")
	}
	byHost := map[string]networkingv1.Ingress{}
	for i, doc := range objs["Ingress"] {
		var ing networkingv1.Ingress
		strict(t, "Ingress "+strconv.Itoa(i+1), doc, &ing)
		if ing.APIVersion != "networking.k8s.io/v1" {
			t.Errorf("%s: apiVersion %q, want networking.k8s.io/v1", ing.Name, ing.APIVersion)
		}
		if len(ing.Spec.Rules) != 1 {
			t.Fatalf("%s: want one rule", ing.Name)
		}
		byHost[ing.Spec.Rules[0].Host] = ing
	}

	for _, host := range []string{"shop.example.com", "www.example.com"} {
		ing, ok := byHost[host]
		if !ok {
			t.Errorf("no Ingress for %s", host)
			continue
		}
		a := ing.Annotations
		if a[annAuthURL] != authURL {
			t.Errorf("%s: auth-url = %q, want %q (the chart's Service, HTTP port, /auth)", host, a[annAuthURL], authURL)
		}
		checkHeaderList(t, host+" auth-response-headers", splitResponseHeaders(t, a[annResponseHeader]))
		// Annotations that would change what the recipe promises: another
		// method or extra auth-request headers are harmless but untested;
		// a snippet runs unreviewed nginx configuration; a cache key caches
		// answers, 401s and revoked sessions included, past authgate's own
		// bounds.
		for _, k := range []string{"auth-method", "auth-snippet", "auth-cache-key", "auth-proxy-set-headers", "configuration-snippet", "server-snippet", "auth-keepalive"} {
			if _, ok := a["nginx.ingress.kubernetes.io/"+k]; ok {
				t.Errorf("%s: %s is set; the recipe and its test assume it is not", host, k)
			}
		}
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			t.Errorf("%s: ingressClassName must be nginx", host)
		}
	}

	// The token API answers 401 (clients read WWW-Authenticate); the cookie
	// site sends browsers to sign in.
	if _, ok := byHost["shop.example.com"].Annotations[annSignin]; ok {
		t.Error("shop.example.com is a token API: auth-signin would turn every 401 into a redirect")
	}
	www := byHost["www.example.com"].Annotations
	u, err := url.Parse(www[annSignin])
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" {
		t.Errorf("www.example.com: auth-signin = %q, want an absolute https URL without a query (ingress-nginx appends the redirect parameter)", www[annSignin])
	}
	if www[annSigninParam] != "redirect_uri" {
		t.Errorf("www.example.com: auth-signin-redirect-param = %q, want redirect_uri", www[annSigninParam])
	}
}

// TestIngressNginxHardening checks the controller ConfigMap's shape; what
// it does is shown against a real nginx in test/e2e
// (TestIngressNginxHostConfusion).
func TestIngressNginxHardening(t *testing.T) {
	const rel = "config/ingress-nginx/controller-configmap.yaml"
	var cm corev1.ConfigMap
	strict(t, rel, readShipped(t, rel), &cm)
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" {
		t.Errorf("%s is %s %s, want a v1 ConfigMap", rel, cm.APIVersion, cm.Kind)
	}
	if len(cm.Data) != 2 {
		t.Errorf("%s: want exactly http-snippet and server-snippet, got %d keys", rel, len(cm.Data))
	}
	if h := cm.Data["http-snippet"]; !strings.Contains(h, "$http_host") || !strings.Contains(h, "$host") {
		t.Errorf("%s: http-snippet must compare $host with $http_host", rel)
	}
	if s := cm.Data["server-snippet"]; !strings.Contains(s, "return 421") {
		t.Errorf("%s: server-snippet must refuse a mismatch with 421", rel)
	}
}
