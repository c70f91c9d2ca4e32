package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sutra/sutra-operator/internal/resources"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// observeLeaderPod reads the leader pod from the cache into the scope (nil
// when it does not exist), so Available turns False as soon as the pod is
// terminating rather than when its StatefulSet's ready count drops. A read
// error leaves it nil: the StatefulSet's status then decides alone.
func (r *SutraClusterReconciler) observeLeaderPod(ctx context.Context, s *scope) {
	pod := &corev1.Pod{}
	key := client.ObjectKey{Namespace: s.cluster.Namespace, Name: resources.LeaderPodName(s.cluster)}
	if err := r.Get(ctx, key, pod); err != nil {
		if !apierrors.IsNotFound(err) {
			ctrl.LoggerFrom(ctx).Error(err, "Cannot read the leader pod", "pod", key.Name)
		}
		return
	}
	s.leaderPod = pod
}

// clusterOfPod maps a storage pod to its SutraCluster by the cluster label.
func clusterOfPod(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[resources.LabelCluster]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}
