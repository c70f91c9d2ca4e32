package controllers

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

// scope is what one reconcile knows about a cluster. Phases fill it in order;
// computeStatus reads it. Nothing in it outlives the reconcile.
type scope struct {
	// cluster is the object as read at the start of the reconcile. Phases
	// must not change it; its status is the "before" for the status patch.
	cluster *sutrav1.SutraCluster
	// now is the reconcile's clock reading, used for every timestamp.
	now time.Time

	// leader and replicas are the StatefulSets as the API server returned
	// them from the apply (so their status is current), nil before they
	// exist.
	leader   *appsv1.StatefulSet
	replicas *appsv1.StatefulSet

	// leaderPod is the leader's pod from the cache, nil when it does not
	// exist or could not be read.
	leaderPod *corev1.Pod
	// pods are the cluster's storage pods from the cache; nil when they
	// could not be listed.
	pods []corev1.Pod

	// endpoint is where replication status was read.
	endpoint string
	// replication is the leader's table; nil when replicationErr is set.
	replication    *statusclient.Snapshot
	replicationErr error

	// volumes is what reconcileVolumes found; nil when it did not run.
	volumes *volumeState

	// childErr is the first error of a phase that manages child objects; the
	// status then keeps the previous observedGeneration.
	childErr error
}

// volumeState is the VolumeExpansion condition and the claims' largest
// request (nil when there are no claims yet).
type volumeState struct {
	condition metav1.Condition
	pvcSize   *resource.Quantity
}

func newScope(c *sutrav1.SutraCluster, now time.Time) *scope {
	return &scope{cluster: c, now: now}
}
