package helm

// The monitoring objects: the PrometheusRule's alerts and the Grafana
// dashboard must query metrics authgate really exports, so a renamed metric
// fails here rather than silently in someone's Prometheus.

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/authgate/authgate/pkg/observability"
)

const monitoringValues = "testdata/values/monitoring.yaml"

// describer is a prometheus.Registerer that records the names of the
// metrics registered on it, including vectors with no series yet (which a
// Gather would leave out).
type describer struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }

// exportedNames are the metric names authgate's registry holds, with the
// series names histograms add.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	d := &describer{names: map[string]bool{}}
	m := observability.NewMetrics(d)
	m.GRPCServerMetrics()
	m.RegisterCacheSize("jwt", func() int { return 0 })
	for n := range d.names {
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			d.names[n+suffix] = true
		}
	}
	if !d.names["authgate_decisions_total"] || !d.names["grpc_server_handled_total"] {
		t.Fatalf("the registry's names were not recorded: %v", d.names)
	}
	return d.names
}

var metricName = regexp.MustCompile(`\b((?:authgate|grpc_server)_[a-z_]+)\b`)

// checkQuery reports names the query uses that authgate does not export,
// and brackets that do not pair up.
func checkQuery(t *testing.T, where, q string, known map[string]bool) {
	t.Helper()
	for _, m := range metricName.FindAllStringSubmatch(q, -1) {
		if !known[m[1]] {
			t.Errorf("%s uses %s, which authgate does not export", where, m[1])
		}
	}
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for _, r := range q {
		switch {
		case r == '"':
			inString = !inString
		case inString:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				t.Errorf("%s: unbalanced %q in %s", where, r, q)
				return
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || inString {
		t.Errorf("%s: unclosed brackets or quotes in %s", where, q)
	}
}

func TestPrometheusRule(t *testing.T) {
	needHelm(t)
	known := exportedNames(t)
	objs := objects(t, render(t, "-f", monitoringValues))
	rule := find(t, objs, "PrometheusRule", "authgate")
	if rule.GetAPIVersion() != "monitoring.coreos.com/v1" || rule.GetLabels()["release"] != "prometheus" {
		t.Errorf("PrometheusRule %s with labels %v", rule.GetAPIVersion(), rule.GetLabels())
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	if len(groups) != 1 {
		t.Fatalf("%d rule groups", len(groups))
	}
	rules, _, _ := unstructured.NestedSlice(groups[0].(map[string]any), "rules")
	var alerts []string
	for _, r := range rules {
		r := r.(map[string]any)
		name, _ := r["alert"].(string)
		expr, _ := r["expr"].(string)
		alerts = append(alerts, name)
		checkQuery(t, name, expr, known)
		// Every alert reads only this release's series.
		if !strings.Contains(expr, `job="authgate"`) {
			t.Errorf("%s does not select job=\"authgate\": %s", name, expr)
		}
		annotations, _ := r["annotations"].(map[string]any)
		if !strings.Contains(annotations["runbook_url"].(string), "docs/operations.md#"+strings.ToLower(name)) {
			t.Errorf("%s: runbook_url %v does not point at its section of docs/operations.md", name, annotations["runbook_url"])
		}
		if sev, _, _ := unstructured.NestedString(r, "labels", "severity"); sev != "warning" && sev != "critical" {
			t.Errorf("%s: severity %q", name, sev)
		}
		switch name {
		case "AuthgateDenyRatioJump":
			if !strings.Contains(expr, "> 3 * (") {
				t.Errorf("%s ignores prometheusRule.denyRatioJumpFactor: %s", name, expr)
			}
		case "AuthgateJWKSStale":
			if !strings.HasSuffix(strings.TrimSpace(expr), "> 86400") {
				t.Errorf("%s ignores prometheusRule.jwksMaxAgeSeconds: %s", name, expr)
			}
		}
	}
	for _, want := range []string{"AuthgateDown", "AuthgateNoSnapshot", "AuthgateDenyRatioJump", "AuthgateDependencyErrors",
		"AuthgateUpstreamErrors", "AuthgateJWKSStale", "AuthgateJWKSFetchErrors", "AuthgatePanics"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s among %v", want, alerts)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	needHelm(t)
	known := exportedNames(t)
	objs := objects(t, render(t, "-f", monitoringValues))
	cm := typed[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "authgate-dashboard"))
	if cm.Namespace != "grafana" || cm.Labels["grafana_dashboard"] != "1" || cm.Labels["team"] != "platform" ||
		cm.Annotations["grafana_folder"] != "Auth" {
		t.Errorf("ConfigMap %s/%s labels %v annotations %v", cm.Namespace, cm.Name, cm.Labels, cm.Annotations)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(cm.Data["authgate.json"]), &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	queries := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			checkQuery(t, "panel "+p.Title, q.Expr, known)
		}
	}
	if dash.UID == "" || queries < 10 {
		t.Fatalf("dashboard uid %q with %d queries", dash.UID, queries)
	}
}

func TestMonitoringOffByDefault(t *testing.T) {
	needHelm(t)
	objs := objects(t, render(t))
	k := kinds(objs)
	if k["PrometheusRule"] != 0 || k["ConfigMap"] != 0 {
		t.Errorf("default render has monitoring objects: %v", k)
	}
	args := func(objs []*unstructured.Unstructured) []string {
		d := find(t, objs, "Deployment", "authgate")
		cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		a, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
		return a
	}
	if slices.Contains(args(objs), "--enable-pprof") {
		t.Error("pprof is on by default")
	}
	if !slices.Contains(args(objects(t, render(t, "-f", monitoringValues))), "--enable-pprof") {
		t.Error("config.enablePprof does not pass --enable-pprof")
	}
}
