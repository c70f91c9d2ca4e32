package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;delete

// adoptLegacy moves a cluster made by an operator version that ran two
// StatefulSets (NAME-leader and NAME-replica) onto instances, keeping
// every pod running and every volume:
//
//  1. the claims of the StatefulSets' current pods (data-NAME-leader-0,
//     data-NAME-replica-K for K below its replica count) get the instance
//     label, so they are the cluster's instances from now on;
//  2. each StatefulSet is deleted with propagation Orphan, so its pods and
//     claims stay;
//  3. its pods get the instance label and the SutraCluster as controller
//     (replacing the StatefulSet's reference), and claims the cluster as
//     owner when whenDeleted is Delete.
//
// The adopted pods still run the old template (their role is fixed in
// their environment): they are out of date, and the rollout replaces them
// one at a time, replicas first, the leader last by switchover.
//
// It returns the instances whose claims it found: the cache may not yet
// have seen the instance labels it just put on them.
func (r *SutraClusterReconciler) adoptLegacy(ctx context.Context, s *scope) ([]string, error) {
	c := s.cluster
	var adopted []string
	for _, name := range []string{resources.LegacyLeaderStatefulSetName(c), resources.LegacyReplicaStatefulSetName(c)} {
		sts := &appsv1.StatefulSet{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, sts); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if !metav1.IsControlledBy(sts, c) {
			continue
		}
		for k := int32(0); k < ptr.Deref(sts.Spec.Replicas, 1); k++ {
			pod := fmt.Sprintf("%s-%d", name, k)
			found, err := r.adoptClaim(ctx, c, pod)
			if err != nil {
				return nil, err
			}
			if found {
				adopted = append(adopted, pod)
			}
		}
		if sts.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, sts, client.PropagationPolicy(metav1.DeletePropagationOrphan)); client.IgnoreNotFound(err) != nil {
				return nil, fmt.Errorf("delete legacy StatefulSet %s: %w", name, err)
			}
			r.event(c, sts, corev1.EventTypeNormal, "Adopted", "Adopt",
				"Adopted the pods and volumes of StatefulSet %s as instances; they roll to the current template one at a time", name)
		}
	}
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return nil, err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if metav1.IsControlledBy(pod, c) || !ownedByLegacy(c, pod.OwnerReferences) {
			continue
		}
		patched := pod.DeepCopy()
		patched.Labels[resources.LabelInstanceName] = pod.Name
		patched.OwnerReferences = []metav1.OwnerReference{resources.OwnerReference(c)}
		if err := r.Patch(ctx, patched, client.MergeFrom(pod)); err != nil {
			return nil, fmt.Errorf("adopt pod %s: %w", pod.Name, err)
		}
	}
	return adopted, nil
}

// adoptClaim labels the claim of a legacy pod as an instance; found is
// false when the pod has no claim.
func (r *SutraClusterReconciler) adoptClaim(ctx context.Context, c *sutrav1.SutraCluster, pod string) (found bool, err error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: resources.ClaimName(pod)}, pvc); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if pvc.Labels[resources.LabelInstanceName] == pod && !ownedByLegacy(c, pvc.OwnerReferences) {
		return true, nil
	}
	patched := pvc.DeepCopy()
	if patched.Labels == nil {
		patched.Labels = map[string]string{}
	}
	patched.Labels[resources.LabelInstanceName] = pod
	var refs []metav1.OwnerReference
	for _, ref := range pvc.OwnerReferences {
		if !isLegacyRef(c, ref) {
			refs = append(refs, ref)
		}
	}
	if c.Spec.PVCRetentionPolicy.WhenDeleted == sutrav1.PVCDelete && !metav1.IsControlledBy(pvc, c) {
		refs = append(refs, resources.OwnerReference(c))
	}
	patched.OwnerReferences = refs
	if err := r.Patch(ctx, patched, client.MergeFrom(pvc)); err != nil {
		return false, fmt.Errorf("adopt claim %s: %w", pvc.Name, err)
	}
	return true, nil
}

func ownedByLegacy(c *sutrav1.SutraCluster, refs []metav1.OwnerReference) bool {
	for _, ref := range refs {
		if isLegacyRef(c, ref) {
			return true
		}
	}
	return false
}

func isLegacyRef(c *sutrav1.SutraCluster, ref metav1.OwnerReference) bool {
	return ref.Kind == "StatefulSet" && (ref.Name == resources.LegacyLeaderStatefulSetName(c) || ref.Name == resources.LegacyReplicaStatefulSetName(c))
}
