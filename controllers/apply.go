package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the server-side apply field manager of everything the
// operator writes.
const FieldOwner = "sutra-operator"

// apply server-side applies desired (a complete object from
// internal/resources, TypeMeta set) and replaces desired with the object the
// API server returns. It reports whether the object was created.
//
// The builders' typed objects are converted to unstructured and their status
// and zero creationTimestamp dropped, so the operator owns exactly the
// fields it sets. Ownership is forced: the operator is the authority for
// these fields, and a conflicting manual edit is overwritten on the next
// reconcile.
func (r *SutraClusterReconciler) apply(ctx context.Context, desired client.Object) (created bool, err error) {
	existing := desired.DeepCopyObject().(client.Object)
	if err := r.Get(ctx, client.ObjectKeyFromObject(desired), existing); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("get %s %s: %w", kindOf(desired), desired.GetName(), err)
		}
		created = true
	}

	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return false, fmt.Errorf("convert %s %s: %w", kindOf(desired), desired.GetName(), err)
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	obj := &unstructured.Unstructured{Object: u}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply %s %s: %w", kindOf(desired), desired.GetName(), err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, desired); err != nil {
		return false, fmt.Errorf("convert applied %s %s: %w", kindOf(desired), desired.GetName(), err)
	}
	return created, nil
}

// applyAll applies objects in order and records a Created event for each
// new one.
func (r *SutraClusterReconciler) applyAll(ctx context.Context, s *scope, objs ...client.Object) error {
	for _, o := range objs {
		created, err := r.apply(ctx, o)
		if err != nil {
			return err
		}
		if created {
			r.event(s.cluster, o, corev1.EventTypeNormal, EventCreatedReason, "Create", "Created %s %s", kindOf(o), o.GetName())
		}
	}
	return nil
}

func kindOf(o client.Object) string {
	if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", o)
}
