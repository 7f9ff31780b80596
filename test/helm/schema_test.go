package helm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestSchemaRejects checks that values.schema.json turns away unknown keys
// (typos) and wrong types before anything is rendered, and that the same
// keys with good values pass, so a rejection is the schema's doing.
func TestSchemaRejects(t *testing.T) {
	needHelm(t)
	cases := map[string]struct {
		bad, good []string
		mention   string // in helm's message
	}{
		"unknown top-level key": {
			bad: []string{"--set", "replicas=3"}, good: []string{"--set", "replicaCount=3"}, mention: "replicas",
		},
		"unknown nested key (typo)": {
			bad:     []string{"--set", "config.watchNamespace={shop}"},
			good:    []string{"--set", "config.watchNamespaces={shop}"},
			mention: "watchNamespace",
		},
		"unknown key in a Kubernetes object": {
			bad:     []string{"--set", "securityContext.runAsNonroot=true"},
			good:    []string{"--set", "securityContext.runAsNonRoot=true"},
			mention: "runAsNonroot",
		},
		"string for an integer": {
			bad: []string{"--set-string", "replicaCount=3"}, good: []string{"--set", "replicaCount=3"}, mention: "replicaCount",
		},
		"string for a boolean": {
			bad: []string{"--set", "crds.enabled=yes"}, good: []string{"--set", "crds.enabled=false"}, mention: "enabled",
		},
		"string for a list": {
			bad:     []string{"--set", "config.trustedProxies=10.0.0.0/8"},
			good:    []string{"--set", "config.trustedProxies={10.0.0.0/8}"},
			mention: "trustedProxies",
		},
		"value outside an enum": {
			bad: []string{"--set", "service.type=Ingress"}, good: []string{"--set", "service.type=NodePort"}, mention: "type",
		},
		"duration that does not parse": {
			bad: []string{"--set", "config.shutdownGrace=ten"}, good: []string{"--set", "config.shutdownGrace=1m30s"}, mention: "shutdownGrace",
		},
		"log level out of range": {
			bad: []string{"--set", "config.logLevel=11"}, good: []string{"--set", "config.logLevel=4"}, mention: "logLevel",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := []string{"template", release, chartDir, "--namespace", namespace}
			out, err := helm("", nil, append(args, tc.bad...)...)
			if err == nil {
				t.Fatalf("helm template %s exited 0; rendered %d bytes", strings.Join(tc.bad, " "), len(out))
			}
			if msg := err.Error(); !strings.Contains(msg, "values don't meet the specifications of the schema") || !strings.Contains(msg, tc.mention) {
				t.Errorf("want a schema error naming %q, got: %v", tc.mention, err)
			}
			if _, err := helm("", nil, append(args, tc.good...)...); err != nil {
				t.Errorf("the good counterpart %s fails too: %v", strings.Join(tc.good, " "), err)
			}
		})
	}
}

// TestSchemaClosed walks values.schema.json: every object schema says what
// keys it allows (additionalProperties false, or a schema for map values),
// so no typo anywhere passes silently. Only Helm's own "global" is open.
func TestSchemaClosed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	var open []string
	var walk func(path string, node any)
	walk = func(path string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if n["type"] == "object" {
				ap, ok := n["additionalProperties"]
				switch {
				case !ok:
					open = append(open, path+": no additionalProperties")
				case ap == true && path != "/properties/global":
					open = append(open, path+": additionalProperties is true")
				}
			}
			keys := make([]string, 0, len(n))
			for k := range n {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"/"+k, n[k])
			}
		case []any:
			for i, v := range n {
				walk(fmt.Sprintf("%s/%d", path, i), v)
			}
		}
	}
	walk("", schema)
	for _, o := range open {
		t.Errorf("values.schema.json%s", o)
	}
	if props, _ := schema["properties"].(map[string]any); len(props) < 10 {
		t.Fatalf("values.schema.json has %d top-level properties: the walk is looking at the wrong file", len(props))
	}
}
