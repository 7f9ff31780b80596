package helm

// What the rendered objects must say, beyond "the same as last time": the
// properties the chart promises, checked on typed objects.

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// typed converts a rendered object into its Go type, rejecting unknown fields.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

func TestDeploymentDefaults(t *testing.T) {
	needHelm(t)
	objs := objects(t, render(t))
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "authgate"))

	if d.Namespace != namespace {
		t.Errorf("namespace %q, want %q", d.Namespace, namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		*ru.MaxUnavailable != intstr.FromInt32(0) || *ru.MaxSurge != intstr.FromInt32(1) {
		t.Errorf("strategy %+v, want RollingUpdate maxUnavailable 0, maxSurge 1", d.Spec.Strategy)
	}
	pod := d.Spec.Template.Spec
	if !reflect.DeepEqual(d.Spec.Selector.MatchLabels, map[string]string{
		"app.kubernetes.io/name": "authgate", "app.kubernetes.io/instance": release,
	}) {
		t.Errorf("selector %v", d.Spec.Selector.MatchLabels)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod label %s=%q does not match the selector's %q", k, d.Spec.Template.Labels[k], v)
		}
	}
	if pod.ServiceAccountName != "authgate" {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Errorf("want one preferred pod anti-affinity term, got %+v", pod.Affinity)
	}
	if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" {
		t.Errorf("want a zone topology spread constraint, got %+v", pod.TopologySpreadConstraints)
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v", pod.SecurityContext)
	}

	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/authgate/authgate:"+appVersion(t) {
		t.Errorf("image %q, want the chart's appVersion as the tag", c.Image)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v", sc)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != intstr.FromString("metrics") {
			t.Errorf("probe %s: %+v, want GET %s on the metrics port", name, p, name)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !reflect.DeepEqual(ports, map[string]int32{"http": 8080, "grpc": 9001, "metrics": 9090}) {
		t.Errorf("container ports %v", ports)
	}
	var podNS bool
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			podNS = true
		}
	}
	if !podNS {
		t.Errorf("no POD_NAMESPACE from metadata.namespace in %+v", c.Env)
	}
	wantArgs := []string{"serve", "--http-addr=:8080", "--grpc-addr=:9001", "--metrics-addr=:9090",
		"--log-level=info", "--shutdown-grace=10s", "--grpc-metadata=none", "--leader-elect=true",
		"--leader-election-namespace=" + namespace, "--leader-election-id=authgate-status-writer"}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("args\n got %q\nwant %q", c.Args, wantArgs)
	}
}

// TestArgsFromValues checks that each config value becomes its flag.
func TestArgsFromValues(t *testing.T) {
	needHelm(t)
	cases := map[string]struct {
		set        []string
		want, omit []string
	}{
		"namespaces": {
			set:  []string{"--set", "config.watchNamespaces={shop,blog}"},
			want: []string{"--watch-namespaces=shop,blog"},
		},
		"label selector": {
			set:  []string{"--set", "config.labelSelector=authgate.io/shard in (a\\,b)"},
			want: []string{"--label-selector=authgate.io/shard in (a,b)"},
		},
		"trusted proxies": {
			set:  []string{"--set", "config.trustedProxies={10.0.0.0/8,fd00::/8}"},
			want: []string{"--trusted-proxies=10.0.0.0/8,fd00::/8"},
		},
		"log verbosity": {
			set:  []string{"--set", "config.logLevel=2"},
			want: []string{"--log-level=2"},
		},
		"lease name": {
			set:  []string{"--set", "config.leaderElection.leaseName=shard-a"},
			want: []string{"--leader-election-id=shard-a", "--leader-election-namespace=" + namespace},
		},
		"no leader election": {
			set:  []string{"--set", "config.leaderElection.enabled=false"},
			want: []string{"--leader-elect=false"},
			omit: []string{"--leader-election-namespace=", "--leader-election-id="},
		},
		"defaults": {
			omit: []string{"--watch-namespaces=", "--label-selector=", "--trusted-proxies=", "--policies"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := typed[appsv1.Deployment](t, find(t, objects(t, render(t, tc.set...)), "Deployment", ""))
			args := d.Spec.Template.Spec.Containers[0].Args
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("args %q lack %q", args, w)
				}
			}
			for _, o := range tc.omit {
				if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, o) }) {
					t.Errorf("args %q have %q", args, o)
				}
			}
		})
	}
}

func TestServicePorts(t *testing.T) {
	needHelm(t)
	svc := typed[corev1.Service](t, find(t, objects(t, render(t)), "Service", "authgate"))
	type port struct {
		number      int32
		target      intstr.IntOrString
		appProtocol string
	}
	got := map[string]port{}
	for _, p := range svc.Spec.Ports {
		ap := ""
		if p.AppProtocol != nil {
			ap = *p.AppProtocol
		}
		got[p.Name] = port{p.Port, p.TargetPort, ap}
	}
	want := map[string]port{
		"grpc":    {9001, intstr.FromString("grpc"), "grpc"},
		"http":    {8080, intstr.FromString("http"), "http"},
		"metrics": {9090, intstr.FromString("metrics"), "http"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("service ports %+v, want %+v", got, want)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("type %s", svc.Spec.Type)
	}
}

// TestClusterRoleMatchesConfig checks the chart's ClusterRole against
// config/rbac/role.yaml, which controller-gen writes from the markers in
// pkg/controller/rbac.go (make manifests copies it into the chart).
func TestClusterRoleMatchesConfig(t *testing.T) {
	needHelm(t)
	var want rbacv1.ClusterRole
	readYAML(t, filepath.Join("..", "..", "config", "rbac", "role.yaml"), &want)
	objs := objects(t, render(t))
	got := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", ""))
	if !reflect.DeepEqual(got.Rules, want.Rules) {
		t.Errorf("chart ClusterRole rules differ from config/rbac/role.yaml (run make manifests):\n got %+v\nwant %+v", got.Rules, want.Rules)
	}
	crb := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", ""))
	if crb.RoleRef.Name != got.Name || len(crb.Subjects) != 1 || crb.Subjects[0].Kind != "ServiceAccount" ||
		crb.Subjects[0].Name != "authgate" || crb.Subjects[0].Namespace != namespace {
		t.Errorf("ClusterRoleBinding %+v does not bind %s to the ServiceAccount", crb, got.Name)
	}

	role := typed[rbacv1.Role](t, find(t, objs, "Role", ""))
	wantLE := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
		{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if role.Namespace != namespace || !reflect.DeepEqual(role.Rules, wantLE) {
		t.Errorf("leader-election Role in %q with %+v", role.Namespace, role.Rules)
	}
}

// TestNamespacedRBAC: with watchNamespaces, the ClusterRole is bound only in
// those namespaces, so authgate reads no Secret elsewhere.
func TestNamespacedRBAC(t *testing.T) {
	needHelm(t)
	objs := objects(t, render(t, "--set", "config.watchNamespaces={shop,blog}"))
	if n := kinds(objs)["ClusterRoleBinding"]; n != 0 {
		t.Errorf("%d ClusterRoleBindings, want none", n)
	}
	var bound []string
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" {
			continue
		}
		rb := typed[rbacv1.RoleBinding](t, o)
		if rb.RoleRef.Kind == "ClusterRole" {
			bound = append(bound, rb.Namespace)
		}
	}
	slices.Sort(bound)
	if !reflect.DeepEqual(bound, []string{"blog", "shop"}) {
		t.Errorf("ClusterRole bound in %v, want blog and shop", bound)
	}
}

// TestCRD checks the chart's CRD against config/crd/bases and its gates.
func TestCRD(t *testing.T) {
	needHelm(t)
	var want apiextensionsv1.CustomResourceDefinition
	readYAML(t, filepath.Join("..", "..", "config", "crd", "bases", "authgate.io_authpolicies.yaml"), &want)

	cases := map[string]struct {
		set       []string
		installed bool
		keep      bool
	}{
		"default":  {installed: true, keep: true},
		"not kept": {set: []string{"--set", "crds.keep=false"}, installed: true},
		"disabled": {set: []string{"--set", "crds.enabled=false"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := objects(t, render(t, tc.set...))
			if n := kinds(objs)["CustomResourceDefinition"]; !tc.installed {
				if n != 0 {
					t.Fatalf("%d CRDs rendered with crds.enabled=false", n)
				}
				if kinds(objs)["Deployment"] != 1 {
					t.Fatal("crds.enabled=false dropped more than the CRD")
				}
				return
			}
			got := typed[apiextensionsv1.CustomResourceDefinition](t, find(t, objs, "CustomResourceDefinition", want.Name))
			if keep := got.Annotations["helm.sh/resource-policy"]; (keep == "keep") != tc.keep || (!tc.keep && keep != "") {
				t.Errorf("helm.sh/resource-policy %q, want keep=%v", keep, tc.keep)
			}
			delete(got.Annotations, "helm.sh/resource-policy")
			if !reflect.DeepEqual(got.Spec, want.Spec) || !reflect.DeepEqual(got.Annotations, want.Annotations) {
				t.Error("the chart's CRD differs from config/crd/bases (run make manifests)")
			}
		})
	}
}

// TestOptionalObjects: each optional object appears with its switch only.
func TestOptionalObjects(t *testing.T) {
	needHelm(t)
	base := kinds(objects(t, render(t)))
	for _, k := range []string{"PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy"} {
		if base[k] != 0 {
			t.Errorf("%s rendered by default", k)
		}
	}
	objs := objects(t, render(t, "-f", filepath.Join("testdata", "values", "all-optional.yaml")))
	for _, k := range []string{"PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy"} {
		if kinds(objs)[k] != 1 {
			t.Errorf("%d %s with all-optional.yaml, want 1", kinds(objs)[k], k)
		}
	}
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", ""))
	if d.Spec.Replicas != nil {
		t.Errorf("replicas %d set although the HorizontalPodAutoscaler owns it", *d.Spec.Replicas)
	}
	np := find(t, objs, "NetworkPolicy", "")
	rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	if len(rules) != 2 {
		t.Fatalf("NetworkPolicy has %d ingress rules, want 2 (clients; metrics)", len(rules))
	}
}

// TestNamespacedObjects: every namespaced object names the release
// namespace (or a watched one), so kubectl apply -f puts it in place.
func TestNamespacedObjects(t *testing.T) {
	needHelm(t)
	clusterScoped := map[string]bool{"CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true}
	for name, args := range valueSets(t) {
		for _, o := range objects(t, renderIn(t, "elsewhere", args...)) {
			switch {
			case clusterScoped[o.GetKind()]:
				if o.GetNamespace() != "" {
					t.Errorf("%s: cluster-scoped %s %s has namespace %q", name, o.GetKind(), o.GetName(), o.GetNamespace())
				}
			case o.GetKind() == "RoleBinding" && o.GetNamespace() != "elsewhere":
				// The namespaced value set binds the ClusterRole in watched namespaces.
			case o.GetKind() == "ConfigMap" && o.GetLabels()["grafana_dashboard"] == "1" && o.GetNamespace() == "grafana":
				// The dashboard goes where Grafana's sidecar looks:
				// grafana.dashboard.namespace, "grafana" in the monitoring set.
			case o.GetNamespace() != "elsewhere":
				t.Errorf("%s: %s %s in namespace %q, want the release's", name, o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func appVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &chart); err != nil || chart.AppVersion == "" {
		t.Fatalf("Chart.yaml: no appVersion (%v)", err)
	}
	return chart.AppVersion
}
