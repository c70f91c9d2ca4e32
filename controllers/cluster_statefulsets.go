package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sutra/sutra-operator/internal/resources"
)

// reconcileStatefulSets applies the leader and replica StatefulSets and keeps
// the applied objects (with their status) in the scope.
//
// Volume claim templates are immutable, so an existing StatefulSet keeps its
// own: a larger spec.storage.size reaches the volumes through
// reconcileVolumes instead. A change of spec.replicas records a Scaled
// event.
func (r *SutraClusterReconciler) reconcileStatefulSets(ctx context.Context, s *scope) error {
	c := s.cluster

	leader, _, err := r.applyStatefulSet(ctx, s, resources.LeaderStatefulSet(c))
	if err != nil {
		return err
	}
	s.leader = leader

	replicas, before, err := r.applyStatefulSet(ctx, s, resources.ReplicaStatefulSet(c))
	if err != nil {
		return err
	}
	s.replicas = replicas
	if from, to := before, ptr.Deref(replicas.Spec.Replicas, 0); from >= 0 && from != to {
		r.event(c, replicas, corev1.EventTypeNormal, EventScaledReason, "Scale",
			"Scaled replicas from %d to %d", from, to)
	}
	return nil
}

// applyStatefulSet applies desired and returns the result and the replica
// count before the apply (-1 when it was created).
func (r *SutraClusterReconciler) applyStatefulSet(ctx context.Context, s *scope, desired *appsv1.StatefulSet) (*appsv1.StatefulSet, int32, error) {
	before := int32(-1)
	existing := &appsv1.StatefulSet{}
	switch err := r.Get(ctx, client.ObjectKeyFromObject(desired), existing); {
	case err == nil:
		before = ptr.Deref(existing.Spec.Replicas, 1)
		desired.Spec.VolumeClaimTemplates = existing.Spec.VolumeClaimTemplates
	case !apierrors.IsNotFound(err):
		return nil, 0, err
	}
	if err := r.applyAll(ctx, s, desired); err != nil {
		return nil, 0, err
	}
	return desired, before, nil
}
