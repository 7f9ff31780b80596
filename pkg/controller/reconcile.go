package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/translate"
)

// eventRecorder is the part of the events API the reconciler uses.
type eventRecorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// Condition types and reasons written to AuthPolicy status.
const (
	ConditionAccepted = "Accepted"
	ConditionReady    = "Ready"

	ReasonAccepted     = "Accepted"
	ReasonDryRun       = "DryRun"
	ReasonInvalid      = "Invalid"
	ReasonHostConflict = "HostConflict"
	ReasonRefNotFound  = "RefNotFound"
)

// outcome is what became of one AuthPolicy in this rebuild.
type outcome struct {
	reason  string
	message string
}

// Reconcile gathers every AuthPolicy, translates it (resolving Secrets from
// the cache), publishes the snapshot, and on the leader writes status.
func (r *Reconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var list v1alpha1.AuthPolicyList
	if err := r.Client.List(ctx, &list); err != nil {
		return ctrl.Result{}, fmt.Errorf("failed to list AuthPolicies: %w", err)
	}
	refs := map[types.NamespacedName]bool{}
	outcomes := make(map[string]outcome, len(list.Items))
	var valid []*policy.Policy
	for i := range list.Items {
		ap := &list.Items[i]
		key := ap.Namespace + "/" + ap.Name
		secrets := r.secrets(ctx, ap.Namespace, refs)
		p, err := translate.AuthPolicy(ap, secrets)
		if err != nil {
			reason := ReasonInvalid
			if strings.Contains(err.Error(), translate.MissingRef) {
				reason = ReasonRefNotFound
			}
			outcomes[key] = outcome{reason: reason, message: err.Error()}
			// Status and an Event say so too; the log is where on-call
			// looks first. Secrets never reach the message: translate names
			// the reference, not the value.
			r.Log.Info("policy not in force", "namespace", ap.Namespace, "name", ap.Name, "reason", reason, "message", err.Error())
			continue
		}
		valid = append(valid, p)
	}
	r.mu.Lock()
	r.refs = refs
	r.mu.Unlock()

	snap := r.Apply(valid)
	for _, p := range snap.Problems() {
		outcomes[p.Policy] = outcome{reason: p.Reason, message: p.Message}
	}
	for _, c := range snap.Policies() {
		o := outcome{reason: ReasonAccepted, message: "in force on every replica"}
		if c.Policy.DryRun {
			o = outcome{reason: ReasonDryRun, message: "in force in DryRun: denials are logged and counted, not enforced"}
		}
		outcomes[c.Policy.Key()] = o
	}

	if !r.leader() {
		return ctrl.Result{}, nil
	}
	var errs []error
	for i := range list.Items {
		if err := r.writeStatus(ctx, &list.Items[i], outcomes[list.Items[i].Namespace+"/"+list.Items[i].Name]); err != nil {
			errs = append(errs, err)
		}
	}
	return ctrl.Result{}, errors.Join(errs...)
}

func (r *Reconciler) leader() bool { return r.Leader == nil || r.Leader() }

// Kick asks for a rebuild (and, on the leader, a status write) without a
// change to any object: when this replica starts leading.
func (r *Reconciler) Kick() {
	select {
	case r.kick <- event.GenericEvent{Object: &v1alpha1.AuthPolicy{}}:
	default: // a rebuild is already queued
	}
}

// secrets resolves SecretKeyRefs from the cache, recording every reference
// (found or not) so that a Secret created or rotated later triggers a rebuild.
func (r *Reconciler) secrets(ctx context.Context, namespace string, refs map[types.NamespacedName]bool) translate.Secrets {
	return func(_, name, key string) ([]byte, bool) {
		nn := types.NamespacedName{Namespace: namespace, Name: name}
		refs[nn] = true
		var s corev1.Secret
		if err := r.Client.Get(ctx, nn, &s); err != nil {
			if !apierrors.IsNotFound(err) {
				r.Log.Error(err, "reading a referenced Secret", "namespace", namespace, "name", name)
			}
			return nil, false
		}
		v, ok := s.Data[key]
		return v, ok
	}
}

// writeStatus sets Accepted and Ready from the outcome and updates the
// status if anything changed, with an Event when Ready's status or reason
// changes (a Warning when the policy is not in force).
func (r *Reconciler) writeStatus(ctx context.Context, ap *v1alpha1.AuthPolicy, o outcome) error {
	if o.reason == "" {
		o = outcome{reason: ReasonInvalid, message: "not translated"}
	}
	accepted := o.reason == ReasonAccepted || o.reason == ReasonDryRun
	prev := meta.FindStatusCondition(ap.Status.Conditions, ConditionReady)
	updated := ap.DeepCopy()
	acceptedCond := metav1.Condition{Type: ConditionAccepted, Status: metav1.ConditionTrue, Reason: ReasonAccepted,
		Message: "the policy is valid", ObservedGeneration: ap.Generation}
	readyCond := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: o.reason,
		Message: o.message, ObservedGeneration: ap.Generation}
	if !accepted {
		acceptedCond.Status, acceptedCond.Reason, acceptedCond.Message = metav1.ConditionFalse, o.reason, truncate(o.message)
		readyCond.Status, readyCond.Message = metav1.ConditionFalse, truncate(o.message)
	}
	if o.reason == ReasonHostConflict || o.reason == ReasonRefNotFound {
		// The spec itself is fine; what stops it is outside it.
		acceptedCond.Status, acceptedCond.Reason, acceptedCond.Message = metav1.ConditionTrue, ReasonAccepted, "the policy is valid"
	}
	changed := meta.SetStatusCondition(&updated.Status.Conditions, acceptedCond)
	changed = meta.SetStatusCondition(&updated.Status.Conditions, readyCond) || changed
	if !changed {
		return nil
	}
	sort.Slice(updated.Status.Conditions, func(i, j int) bool { return updated.Status.Conditions[i].Type < updated.Status.Conditions[j].Type })
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// A newer version (or a deletion) is on its way: its event
			// triggers another rebuild that writes status again.
			return nil
		}
		return fmt.Errorf("failed to update status of %s/%s: %w", ap.Namespace, ap.Name, err)
	}
	if transition := prev == nil || prev.Status != readyCond.Status || prev.Reason != readyCond.Reason; transition && r.Events != nil {
		typ := corev1.EventTypeNormal
		if readyCond.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Events.Eventf(updated, nil, typ, readyCond.Reason, "Reconcile", "%s", truncate(readyCond.Message))
	}
	return nil
}

// truncate keeps condition messages within the API's 32768-byte limit.
func truncate(s string) string {
	const limit = 32000
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
