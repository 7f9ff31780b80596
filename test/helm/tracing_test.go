package helm

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestTracingValues checks that the tracing values become serve's flags,
// and that the pod's name and namespace go into the trace resource only when
// tracing is on.
func TestTracingValues(t *testing.T) {
	needHelm(t)
	cases := map[string]struct {
		set      []string
		want     []string
		omit     []string
		wantAttr bool
	}{
		"off by default": {
			omit: []string{"--otlp-endpoint", "--otlp-insecure", "--trace-sample-ratio"},
		},
		"endpoint only": {
			set:      []string{"--set", "tracing.otlpEndpoint=otel-collector.observability:4317"},
			want:     []string{"--otlp-endpoint=otel-collector.observability:4317", "--trace-sample-ratio=1"},
			omit:     []string{"--otlp-insecure"},
			wantAttr: true,
		},
		"insecure, a tenth sampled": {
			set:      []string{"--set", "tracing.otlpEndpoint=[fd00::1]:4317", "--set", "tracing.insecure=true", "--set", "tracing.sampleRatio=0.1"},
			want:     []string{"--otlp-endpoint=[fd00::1]:4317", "--otlp-insecure", "--trace-sample-ratio=0.1"},
			wantAttr: true,
		},
		"sampling without an endpoint does nothing": {
			set:  []string{"--set", "tracing.sampleRatio=0.1", "--set", "tracing.insecure=true"},
			omit: []string{"--otlp-endpoint", "--otlp-insecure", "--trace-sample-ratio"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := typed[appsv1.Deployment](t, find(t, objects(t, render(t, tc.set...)), "Deployment", ""))
			c := d.Spec.Template.Spec.Containers[0]
			for _, w := range tc.want {
				if !slices.Contains(c.Args, w) {
					t.Errorf("args %q lack %q", c.Args, w)
				}
			}
			for _, o := range tc.omit {
				if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, o) }) {
					t.Errorf("args %q have %q", c.Args, o)
				}
			}
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "OTEL_RESOURCE_ATTRIBUTES" })
			if (i >= 0) != tc.wantAttr {
				t.Fatalf("OTEL_RESOURCE_ATTRIBUTES set: %v, want %v", i >= 0, tc.wantAttr)
			}
			if i < 0 {
				return
			}
			// $(POD_NAME) only expands if POD_NAME is defined before it.
			pod := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
			})
			if pod < 0 || pod > i || c.Env[i].Value != "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)" {
				t.Errorf("env %+v: want POD_NAME from metadata.name before OTEL_RESOURCE_ATTRIBUTES with the pod and namespace", c.Env)
			}
		})
	}
}

// TestTracingSchema checks that the schema refuses tracing values serve
// would refuse, before anything is rendered.
func TestTracingSchema(t *testing.T) {
	needHelm(t)
	cases := map[string]struct {
		bad, good []string
	}{
		"ratio above one": {
			bad:  []string{"--set", "tracing.sampleRatio=2"},
			good: []string{"--set", "tracing.sampleRatio=0.5"},
		},
		"ratio above one, as helm --set passes a fraction": {
			bad:  []string{"--set-string", "tracing.sampleRatio=1.5"},
			good: []string{"--set-string", "tracing.sampleRatio=0.05"},
		},
		"endpoint as a URL": {
			bad:  []string{"--set", "tracing.otlpEndpoint=http://otel-collector:4317"},
			good: []string{"--set", "tracing.otlpEndpoint=otel-collector:4317"},
		},
		"unknown key": {
			bad:  []string{"--set", "tracing.endpoint=otel-collector:4317"},
			good: []string{"--set", "tracing.otlpEndpoint=otel-collector:4317"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := []string{"template", release, chartDir, "--namespace", namespace}
			out, err := helm("", nil, append(args, tc.bad...)...)
			if err == nil {
				t.Fatalf("helm accepted %v", tc.bad)
			}
			if !strings.Contains(out+err.Error(), "tracing") {
				t.Errorf("the rejection does not name tracing: %v\n%s", err, out)
			}
			if _, err := helm("", nil, append(args, tc.good...)...); err != nil {
				t.Errorf("helm refused %v: %v", tc.good, err)
			}
		})
	}
}
