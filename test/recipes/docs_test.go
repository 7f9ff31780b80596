package recipes

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authgate/authgate/pkg/source"
)

// proxyPages are the per-proxy pages and the recipe files each must walk
// through.
var proxyPages = map[string][]string{
	"envoy.md":         {"config/envoy/envoy.yaml"},
	"istio.md":         {"config/istio/istio-operator.yaml", "config/istio/istiod-values.yaml", "config/istio/authorization-policy.yaml"},
	"envoy-gateway.md": {"config/envoy-gateway/security-policy.yaml"},
	"ingress-nginx.md": {"config/ingress-nginx/ingress.yaml", "config/ingress-nginx/controller-configmap.yaml"},
	"nginx.md":         {"config/samples/nginx/authgate.conf"},
	"traefik.md":       {"config/traefik/middleware.yaml"},
}

var (
	yamlBlock    = regexp.MustCompile("(?s)```yaml\n(.*?)```")
	markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// TestProxyPages keeps docs/proxies honest: every page installs authgate
// with the chart, names its recipe files (which must exist), shows how to
// troubleshoot with authgate check, and every AuthPolicy and relative link
// in it works.
func TestProxyPages(t *testing.T) {
	for page, files := range proxyPages {
		t.Run(page, func(t *testing.T) {
			rel := filepath.Join("docs/proxies", page)
			text := string(readShipped(t, rel))
			for _, want := range []string{"helm install authgate charts/authgate -n authgate --create-namespace", "authgate check"} {
				if !strings.Contains(text, want) {
					t.Errorf("%s does not show %q", rel, want)
				}
			}
			for _, f := range files {
				if !strings.Contains(text, f) {
					t.Errorf("%s does not mention %s", rel, f)
				}
				if _, err := os.Stat(filepath.Join(repoRoot, f)); err != nil {
					t.Errorf("%s names %s: %v", rel, f, err)
				}
			}
			if n := checkPolicies(t, rel, text); n == 0 {
				t.Errorf("%s shows no AuthPolicy", rel)
			}
			checkLinks(t, rel, text)
		})
	}
}

func TestChoosingPage(t *testing.T) {
	const rel = "docs/choosing.md"
	text := string(readShipped(t, rel))
	if n := checkPolicies(t, rel, text); n < 2 {
		t.Errorf("%s shows %d AuthPolicies, want a token one and a cookie one", rel, n)
	}
	checkLinks(t, rel, text)
}

// checkPolicies loads every AuthPolicy in the page's YAML blocks and
// returns how many there were.
func checkPolicies(t *testing.T, rel, text string) int {
	t.Helper()
	n := 0
	for i, m := range yamlBlock.FindAllStringSubmatch(text, -1) {
		if !strings.Contains(m[1], "kind: AuthPolicy") {
			continue
		}
		n += strings.Count(m[1], "kind: AuthPolicy")
		if _, err := source.ParseFile(rel, []byte(m[1]), nil); err != nil {
			t.Errorf("%s, YAML block %d does not load: %v", rel, i+1, err)
		}
	}
	return n
}

// checkLinks fails on a relative link whose file does not exist.
func checkLinks(t *testing.T, rel, text string) {
	t.Helper()
	for _, m := range markdownLink.FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		target, _, _ = strings.Cut(target, "#")
		p := filepath.Join(repoRoot, filepath.Dir(rel), target)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s links to %s, which does not exist", rel, m[1])
		}
	}
}
