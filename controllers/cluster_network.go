package controllers

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sutra/sutra-operator/internal/resources"
)

// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete

// reconcileNetworkPolicy applies the cluster's NetworkPolicy while
// spec.network.policy is Enabled (the default) and deletes the one the
// cluster controls once it is Disabled; a policy of the same name that the
// cluster does not control is left alone. The policy admits the operator's
// pods (r.Operator) to the gRPC port, so the operator keeps reaching the
// nodes on a CNI that enforces it.
func (r *SutraClusterReconciler) reconcileNetworkPolicy(ctx context.Context, s *scope) error {
	c := s.cluster
	if resources.NetworkPolicyEnabled(c) {
		return r.applyAll(ctx, s, resources.NetworkPolicy(c, r.Operator))
	}

	np := &networkingv1.NetworkPolicy{}
	key := client.ObjectKey{Namespace: c.Namespace, Name: resources.NetworkPolicyName(c)}
	if err := r.Get(ctx, key, np); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get NetworkPolicy %s: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(np, c) {
		return nil
	}
	uid := np.UID
	if err := r.Delete(ctx, np, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete NetworkPolicy %s: %w", key.Name, err)
	}
	return nil
}
