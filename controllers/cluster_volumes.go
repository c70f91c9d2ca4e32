package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get

// reconcileVolumes expands the nodes' PersistentVolumeClaims when
// spec.storage.size grew, and records in the scope the VolumeExpansion
// condition and the claims' largest request (status.storage.pvcSize, the
// floor spec.storage.size may return to).
//
// A claim whose StorageClass does not allow expansion is not patched: the
// condition says ExpansionNotSupported, naming the class and the claims, and
// stays so on every poll without further API calls or events until the spec
// or the class changes. Neither case is retried with backoff, since only a
// person can fix it.
func (r *SutraClusterReconciler) reconcileVolumes(ctx context.Context, s *scope) error {
	c := s.cluster
	want := resources.StorageSize(c)
	claims := &corev1.PersistentVolumeClaimList{}
	if err := r.List(ctx, claims, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return err
	}
	sort.Slice(claims.Items, func(i, j int) bool { return claims.Items[i].Name < claims.Items[j].Name })

	expands := map[string]bool{} // storage class -> allows expansion
	var largest *resource.Quantity
	notSupported := map[string][]string{} // storage class -> claims
	var failed []string
	for i := range claims.Items {
		pvc := &claims.Items[i]
		have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if have.Cmp(want) < 0 {
			class := ptr.Deref(pvc.Spec.StorageClassName, "")
			ok, known := expands[class]
			if !known {
				var err error
				if ok, err = r.classExpands(ctx, class); err != nil {
					return err
				}
				expands[class] = ok
			}
			switch {
			case !ok:
				notSupported[class] = append(notSupported[class], pvc.Name)
			default:
				patched := pvc.DeepCopy()
				if patched.Spec.Resources.Requests == nil {
					patched.Spec.Resources.Requests = corev1.ResourceList{}
				}
				patched.Spec.Resources.Requests[corev1.ResourceStorage] = want
				if err := r.Patch(ctx, patched, client.MergeFrom(pvc)); err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", pvc.Name, err))
					break
				}
				r.event(c, pvc, corev1.EventTypeNormal, "VolumeExpanded", "Expand",
					"Expanding %s from %s to %s", pvc.Name, have.String(), want.String())
				have = want
			}
		}
		if largest == nil || have.Cmp(*largest) > 0 {
			largest = ptr.To(have.DeepCopy())
		}
	}
	s.volumes = &volumeState{pvcSize: largest, condition: volumeCondition(want, notSupported, failed)}
	return nil
}

// classExpands reports whether the StorageClass named class allows volume
// expansion. An empty name or a missing class cannot be expanded. The class
// is read without the cache (StorageClasses are cluster-scoped and only read
// while a claim must grow); when the operator may not read it (RBAC limited
// to one namespace) it answers true and the API server's own check on the
// claim decides.
func (r *SutraClusterReconciler) classExpands(ctx context.Context, class string) (bool, error) {
	if class == "" {
		return false, nil
	}
	var reader client.Reader = r.Client
	if r.APIReader != nil {
		reader = r.APIReader
	}
	sc := &storagev1.StorageClass{}
	if err := reader.Get(ctx, client.ObjectKey{Name: class}, sc); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return false, nil
		case apierrors.IsForbidden(err):
			return true, nil
		}
		return false, err
	}
	return ptr.Deref(sc.AllowVolumeExpansion, false), nil
}

func volumeCondition(want resource.Quantity, notSupported map[string][]string, failed []string) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionVolumeExpansion}
	switch {
	case len(notSupported) > 0:
		classes := make([]string, 0, len(notSupported))
		for class := range notSupported {
			classes = append(classes, class)
		}
		sort.Strings(classes)
		var parts []string
		for _, class := range classes {
			name := fmt.Sprintf("StorageClass %q", class)
			if class == "" {
				name = "no StorageClass"
			}
			parts = append(parts, fmt.Sprintf("%s does not allow volume expansion (allowVolumeExpansion is not true) for %s",
				name, strings.Join(notSupported[class], ", ")))
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, sutrav1.ReasonExpansionNotSupported
		cond.Message = fmt.Sprintf("cannot expand to %s: %s; set spec.storage.size back to status.storage.pvcSize or use a class that expands",
			want.String(), strings.Join(parts, "; "))
	case len(failed) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, sutrav1.ReasonExpansionFailed
		cond.Message = fmt.Sprintf("cannot expand to %s: %s", want.String(), strings.Join(failed, "; "))
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, sutrav1.ReasonVolumesAtSize
		cond.Message = fmt.Sprintf("every volume requests %s", want.String())
	}
	return cond
}
