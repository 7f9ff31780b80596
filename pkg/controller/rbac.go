package controller

// The permissions the controller needs, and nothing else: `make manifests`
// turns these markers into config/rbac/role.yaml. This file holds markers
// only.
//
// Secrets are listed and watched because the informer cache needs it; RBAC
// cannot narrow a watch to the Secrets policies reference. Status is written
// through the status subresource. Events go through events.k8s.io (the
// reconciler's recorder) and the core API. Leases are for the
// status-writer election (statusLeader), released on shutdown: only the
// leader writes status.
//
// +kubebuilder:rbac:groups=authgate.io,resources=authpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=authgate.io,resources=authpolicies/status,verbs=update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update
