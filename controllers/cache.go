package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sutra/sutra-operator/internal/resources"
)

// CacheByObject limits the manager's informers for child kinds to objects
// labelled app.kubernetes.io/managed-by=sutra-operator, so the operator does
// not cache every ConfigMap, Secret, Service, PVC, Pod and NetworkPolicy of
// the cluster (a Secret spec.tls.caSecret names is read directly). Every object the
// builders make carries that label (PVCs inherit it from the volume claim
// templates). Use it in the manager's cache.Options.ByObject.
func CacheByObject() map[client.Object]cache.ByObject {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{resources.LabelManagedBy: resources.ManagedBy})}
	return map[client.Object]cache.ByObject{
		&appsv1.StatefulSet{}:           managed,
		&corev1.Service{}:               managed,
		&corev1.ConfigMap{}:             managed,
		&corev1.Secret{}:                managed,
		&corev1.PersistentVolumeClaim{}: managed,
		&corev1.Pod{}:                   managed,
		&policyv1.PodDisruptionBudget{}: managed,
		&networkingv1.NetworkPolicy{}:   managed,
	}
}
