package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sutra/sutra-operator/internal/resources"
)

// reconcileVolumes expands the nodes' PersistentVolumeClaims when
// spec.storage.size grew (the API rejects shrinking). A claim whose storage
// class cannot expand is reported with a Warning event and left alone; that
// is not retried with backoff, since only a person can fix it.
func (r *SutraClusterReconciler) reconcileVolumes(ctx context.Context, s *scope) error {
	c := s.cluster
	want := resources.StorageSize(c)
	claims := &corev1.PersistentVolumeClaimList{}
	if err := r.List(ctx, claims, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return err
	}
	for i := range claims.Items {
		pvc := &claims.Items[i]
		have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if have.Cmp(want) >= 0 {
			continue
		}
		patched := pvc.DeepCopy()
		if patched.Spec.Resources.Requests == nil {
			patched.Spec.Resources.Requests = corev1.ResourceList{}
		}
		patched.Spec.Resources.Requests[corev1.ResourceStorage] = want
		if err := r.Patch(ctx, patched, client.MergeFrom(pvc)); err != nil {
			r.event(c, pvc, corev1.EventTypeWarning, "VolumeExpansionFailed", "Expand",
				"Cannot expand %s from %s to %s: %v", pvc.Name, have.String(), want.String(), err)
			continue
		}
		r.event(c, pvc, corev1.EventTypeNormal, "VolumeExpanded", "Expand",
			"Expanding %s from %s to %s", pvc.Name, have.String(), want.String())
	}
	return nil
}
