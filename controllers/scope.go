package controllers

import (
	"time"

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

	// instances are the cluster's instance names, sorted; pods their pods
	// from the cache by name (nil entry: no pod); created the pods made in
	// this reconcile.
	instances []string
	pods      map[string]*corev1.Pod
	created   []string
	// leaderName is status.currentLeader (or the first leader of a new
	// cluster); targetName status.targetLeader, or leaderName.
	leaderName, targetName string
	// nodes are the instances' admin answers.
	nodes map[string]nodeState

	leadership leadership
	// fenced: the storage.sutra.io/fenced annotation holds the leader.
	fenced  bool
	rollout rollout
	// requeueAfter, when set, is sooner than the poll interval.
	requeueAfter time.Duration

	// endpoint is where replication status was read.
	endpoint string
	// replication is the leader's table; nil when replicationErr is set.
	replication    *statusclient.Snapshot
	replicationErr error

	// volumes is what reconcileVolumes found; nil when it did not run.
	volumes *volumeState

	// certs is what reconcileCertificates found; nil when TLS is disabled
	// (or the phase did not run).
	certs *certState

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

// requeue asks for the next reconcile within d.
func (s *scope) requeue(d time.Duration) {
	if s.requeueAfter == 0 || d < s.requeueAfter {
		s.requeueAfter = d
	}
}
