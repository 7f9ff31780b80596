// Package controller is authgate's Kubernetes mode: a controller-runtime
// manager that watches AuthPolicies (and only the Secrets they reference),
// translates them with the same pure code standalone mode uses, publishes a
// snapshot on every replica, and — on the leader only — writes status
// conditions and events. The hot path never waits on the API server: if it
// goes away, the last snapshot keeps serving.
package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/store"
)

// Config configures the controller.
type Config struct {
	// RestConfig reaches the API server.
	RestConfig *rest.Config
	// Namespaces to watch; empty watches all.
	Namespaces []string
	// LabelSelector shards policies between authgate installations.
	LabelSelector string
	// LeaderElection makes one replica the status writer (every replica
	// serves). Off only for a single replica or tests.
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease; default the pod's namespace.
	LeaderElectionNamespace string
	// LeaderElectionID names the Lease.
	LeaderElectionID string
	// LeaseDuration, RenewDeadline and RetryPeriod tune the election
	// (default 15s, 10s, 2s, as controller-runtime's).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Apply publishes a snapshot of the policies and returns it.
	Apply func([]*policy.Policy) *store.Snapshot
	// Log receives the controller's logs.
	Log logr.Logger
}

// Scheme knows the types the controller reads: AuthPolicy, Secret, Event.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New builds the manager with the controller registered. Start it with
// mgr.Start(ctx).
func New(cfg Config) (manager.Manager, error) {
	if cfg.Apply == nil || cfg.RestConfig == nil {
		return nil, errors.New("controller needs a rest config and an Apply function")
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{}}
	if len(cfg.Namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range cfg.Namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if cfg.LabelSelector != "" {
		sel, err := labels.Parse(cfg.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("label selector %q: %w", cfg.LabelSelector, err)
		}
		cacheOpts.ByObject[&v1alpha1.AuthPolicy{}] = cache.ByObject{Label: sel}
	}
	leNS := cfg.LeaderElectionNamespace
	if leNS == "" && cfg.LeaderElection {
		leNS = podNamespace()
	}
	id := cfg.LeaderElectionID
	if id == "" {
		id = "authgate-status-writer"
	}
	mgr, err := ctrl.NewManager(cfg.RestConfig, ctrl.Options{
		Scheme: scheme,
		Cache:  cacheOpts,
		Logger: cfg.Log,
		// authgate runs its own election (statusLeader): controller-runtime's
		// would end the process when the Lease is lost.
		LeaderElection: false,
		// authgate serves its own /metrics and /readyz on the ops port.
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create manager: %w", err)
	}
	r := &Reconciler{
		Client: mgr.GetClient(),
		Apply:  cfg.Apply,
		Leader: func() bool { return true },
		Events: mgr.GetEventRecorder("authgate"),
		Log:    cfg.Log.WithName("reconciler"),
		kick:   make(chan event.GenericEvent, 1),
	}
	if cfg.LeaderElection {
		l, err := newStatusLeader(cfg.RestConfig, cfg, leNS, id, r.Kick)
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(l); err != nil {
			return nil, err
		}
		r.Leader = l.Leading
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return mgr, nil
}

// podNamespace is the namespace authgate runs in, for the Lease: the
// service account's, else POD_NAMESPACE, else "default" (out of cluster).
func podNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "default"
}

// all is the one key every event maps to: a snapshot covers every policy
// (hosts conflict across policies), so each change rebuilds it whole, and
// the work queue folds bursts of changes into one rebuild.
var all = reconcile.Request{NamespacedName: types.NamespacedName{Name: "all-authpolicies"}}

func toAll(context.Context, client.Object) []reconcile.Request { return []reconcile.Request{all} }

// SetupWithManager registers the controller: AuthPolicies, the Secrets
// they reference, and a kick at start (so an empty cluster still becomes
// ready). The election kicks too when this replica starts leading, so it
// writes status.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	everyReplica := false
	// Name validation guards a process-wide metrics registry; authgate
	// runs one manager per process, and tests run several.
	skipNameValidation := true
	r.kick <- event.GenericEvent{Object: &v1alpha1.AuthPolicy{}}
	return builder.ControllerManagedBy(mgr).
		Named("authpolicy").
		WithOptions(crcontroller.Options{NeedLeaderElection: &everyReplica, MaxConcurrentReconciles: 1, SkipNameValidation: &skipNameValidation}).
		Watches(&v1alpha1.AuthPolicy{}, handler.EnqueueRequestsFromMapFunc(toAll),
			// Status writes change neither spec nor labels: no rebuild.
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(toAll),
			builder.WithPredicates(predicate.NewPredicateFuncs(r.referenced))).
		WatchesRawSource(source.Channel(r.kick, handler.EnqueueRequestsFromMapFunc(toAll))).
		Complete(r)
}

// referenced says whether a Secret is referenced by a policy, so changes
// to the many Secrets nothing uses never cost a rebuild.
func (r *Reconciler) referenced(o client.Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refs[types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}]
}

// Reconciler rebuilds the snapshot from every AuthPolicy and writes status.
type Reconciler struct {
	Client client.Client
	Apply  func([]*policy.Policy) *store.Snapshot
	// Leader says whether this replica writes status and Events now.
	Leader func() bool
	Events eventRecorder
	Log    logr.Logger

	kick chan event.GenericEvent
	mu   sync.Mutex
	refs map[types.NamespacedName]bool
}
