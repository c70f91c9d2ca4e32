package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// TestAdoptionWithStaleCache: the reconcile that labels the legacy claims
// as instances lists the instances from a cache that has not seen those
// labels yet. It must still take the legacy pods as the instances, not
// start a new cluster NAME-1.. beside them.
func TestAdoptionWithStaleCache(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := sutrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "prod", UID: "uid-old"},
		Spec: sutrav1.SutraClusterSpec{Image: "sutra/storage:1.0", Replicas: ptr.To(int32(1))}}
	leaderSts := legacyStatefulSet(c, resources.LegacyLeaderStatefulSetName(c), resources.RoleLeader, 1)
	replicaSts := legacyStatefulSet(c, resources.LegacyReplicaStatefulSetName(c), resources.RoleReplica, 1)
	leaderSts.UID, replicaSts.UID = "uid-leader-sts", "uid-replica-sts"
	objs := []client.Object{c, leaderSts, replicaSts,
		legacyClaim(c, "old-leader-0", resources.RoleLeader), legacyClaim(c, "old-replica-0", resources.RoleReplica),
		legacyPod(c, leaderSts, "old-leader-0", resources.RoleLeader, ""),
		legacyPod(c, replicaSts, "old-replica-0", resources.RoleReplica, "old-leader-0")}
	stale := interceptor.Funcs{List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*corev1.PersistentVolumeClaimList); ok {
			return nil // the cache has not seen the instance labels yet
		}
		return cl.List(ctx, list, opts...)
	}}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(stale).Build()
	r := &SutraClusterReconciler{Client: cl}
	s := newScope(c, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := r.reconcileInstances(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if want := []string{"old-leader-0", "old-replica-0"}; !slices.Equal(s.instances, want) {
		t.Errorf("instances = %v, want %v", s.instances, want)
	}
	if s.leaderName != "old-leader-0" || len(s.created) != 0 {
		t.Errorf("leader %q, created %v; want old-leader-0 and no new pod", s.leaderName, s.created)
	}
	pods := &corev1.PodList{}
	if err := cl.List(context.Background(), pods); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if !metav1.IsControlledBy(&p, c) {
			t.Errorf("pod %s not adopted: %v", p.Name, p.OwnerReferences)
		}
	}
	if len(pods.Items) != 2 {
		t.Errorf("%d pods, want the 2 legacy ones", len(pods.Items))
	}
}
