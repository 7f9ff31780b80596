package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/controller"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/store"
	"github.com/authgate/authgate/pkg/translate"
)

// kubeTimeout bounds each call check makes to the API server: a one-shot
// command must not hang on an unreachable cluster.
const kubeTimeout = 30 * time.Second

// clusterPolicies lists the AuthPolicies that `serve` would watch with the
// same namespace and label selector, and translates each with the Secrets it
// references, read as the controller reads them (the policy's namespace, a
// missing Secret or key is a RefNotFound). A policy that does not translate
// is reported as a problem, not an error: serve leaves it out too.
func clusterPolicies(ctx context.Context, kubeconfig, namespace, selector string, stderr io.Writer) ([]*policy.Policy, []store.Problem, error) {
	rc, err := restConfig(kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	if rc.Timeout == 0 {
		rc.Timeout = kubeTimeout
	}
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, fmt.Errorf("failed to create a Kubernetes client: %w", err)
	}
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return nil, nil, fmt.Errorf("--label-selector %q: %w", selector, err)
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	var list v1alpha1.AuthPolicyList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, nil, fmt.Errorf("failed to list AuthPolicies: %w", err)
	}
	var valid []*policy.Policy
	var problems []store.Problem
	for i := range list.Items {
		ap := &list.Items[i]
		p, err := translate.AuthPolicy(ap, secretsFrom(ctx, c, ap.Namespace, stderr))
		if err != nil {
			reason := controller.ReasonInvalid
			if strings.Contains(err.Error(), translate.MissingRef) {
				reason = controller.ReasonRefNotFound
			}
			problems = append(problems, store.Problem{Policy: ap.Namespace + "/" + ap.Name, Reason: reason, Message: err.Error()})
			continue
		}
		valid = append(valid, p)
	}
	return valid, problems, nil
}

// secretsFrom resolves a policy's SecretKeyRefs in its own namespace. An
// error other than not-found (RBAC forbids reading Secrets, say) is printed:
// the policy then reports RefNotFound, which would otherwise mislead.
func secretsFrom(ctx context.Context, c client.Reader, namespace string, stderr io.Writer) translate.Secrets {
	return func(_, name, key string) ([]byte, bool) {
		var s corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
			if !apierrors.IsNotFound(err) {
				fmt.Fprintf(stderr, "warning: cannot read Secret %s/%s: %v\n", namespace, name, err)
			}
			return nil, false
		}
		v, ok := s.Data[key]
		return v, ok
	}
}
