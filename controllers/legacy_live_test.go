package controllers

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// legacyLabels are the labels the previous operator version put on the pods
// and claims of one of its StatefulSets: the cluster labels and the role.
func legacyLabels(c *sutrav1.SutraCluster, role string) map[string]string {
	l := resources.ClusterLabels(c)
	l[resources.LabelRole] = role
	return l
}

// legacyStatefulSet is what the previous operator made for one role.
func legacyStatefulSet(c *sutrav1.SutraCluster, name, role string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: legacyLabels(c, role),
			OwnerReferences: []metav1.OwnerReference{resources.OwnerReference(c)}},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: resources.PeersServiceName(c),
			Selector:    &metav1.LabelSelector{MatchLabels: legacyLabels(c, role)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: legacyLabels(c, role)},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: resources.ContainerName, Image: c.Spec.Image}}},
			},
		},
	}
}

// legacyClaim is a claim the old volume claim template made: no instance
// label, no owner.
func legacyClaim(c *sutrav1.SutraCluster, pod, role string) *corev1.PersistentVolumeClaim {
	pvc := resources.Claim(c, pod)
	pvc.Labels = legacyLabels(c, role)
	pvc.OwnerReferences = nil
	return pvc
}

// legacyPod is a pod of a legacy StatefulSet: its role fixed in its
// environment, no spec-hash annotation, the StatefulSet its controller.
func legacyPod(c *sutrav1.SutraCluster, sts *appsv1.StatefulSet, name, role, leader string) *corev1.Pod {
	env := []corev1.EnvVar{{Name: "SUTRA_NODE_ROLE", Value: role}, {Name: "SUTRA_NODE_ID", Value: name},
		{Name: "SUTRA_CLUSTER_ID", Value: resources.ClusterID(c)}}
	if leader != "" {
		env = append(env, corev1.EnvVar{Name: "SUTRA_LEADER", Value: resources.PodAddress(c, leader)})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: legacyLabels(c, role),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}},
		Spec: corev1.PodSpec{
			Hostname:  name,
			Subdomain: resources.PeersServiceName(c),
			Containers: []corev1.Container{{Name: resources.ContainerName, Image: c.Spec.Image, Env: env,
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/sutra"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: resources.ClaimName(name)}}}},
		},
	}
}

var _ = Describe("Upgrade from StatefulSets", Ordered, func() {
	const name = "legacy"
	var (
		dir    string
		nodes  []*storageNode // NAME-leader-0, NAME-replica-0, NAME-replica-1
		addrs  []string
		led    *ledger
		c      *sutrav1.SutraCluster
		claims = map[string]types.UID{} // claim name -> UID
		pods   = map[string]types.UID{} // pod name -> UID
	)
	leader0, replica0, replica1 := name+"-leader-0", name+"-replica-0", name+"-replica-1"
	retained := resources.ClaimName(name + "-replica-2")
	cluster := func(g Gomega) *sutrav1.SutraCluster { return clusterNamed(g, name) }
	expectClaimsKept := func(g Gomega) {
		for claim, uid := range claims {
			pvc := &corev1.PersistentVolumeClaim{}
			g.Expect(k8sClient.Get(ctx, key(claim), pvc)).To(Succeed())
			g.Expect(pvc.UID).To(Equal(uid), "claim %s was made again", claim)
		}
	}

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		buildServer(dir)

		By("creating the SutraCluster paused, so the operator leaves it alone")
		c = plaintext(newCluster(name, 2))
		c.Annotations = map[string]string{sutrav1.AnnotationReconcile: sutrav1.ReconcilePaused}
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		c.Spec.FailoverDelay = &metav1.Duration{Duration: time.Second}
		c.Spec.Replication.LagThresholdMs = 5000
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), c) })

		By("making what the StatefulSet operator made")
		leaderSts := legacyStatefulSet(c, resources.LegacyLeaderStatefulSetName(c), resources.RoleLeader, 1)
		replicaSts := legacyStatefulSet(c, resources.LegacyReplicaStatefulSetName(c), resources.RoleReplica, 2)
		for _, sts := range []*appsv1.StatefulSet{leaderSts, replicaSts} {
			Expect(k8sClient.Create(ctx, sts)).To(Succeed())
			DeferCleanup(func() {
				// No garbage collector: drop the orphan finalizer ourselves.
				bg := context.Background()
				got := &appsv1.StatefulSet{}
				if k8sClient.Get(bg, client.ObjectKeyFromObject(sts), got) == nil {
					got.Finalizers = nil
					_ = k8sClient.Update(bg, got)
					_ = k8sClient.Delete(bg, got)
				}
			})
		}
		for _, pvc := range []*corev1.PersistentVolumeClaim{
			legacyClaim(c, leader0, resources.RoleLeader),
			legacyClaim(c, replica0, resources.RoleReplica),
			legacyClaim(c, replica1, resources.RoleReplica),
			legacyClaim(c, name+"-replica-2", resources.RoleReplica), // kept by an old scale down
		} {
			Expect(k8sClient.Create(ctx, pvc)).To(Succeed())
			if pvc.Name != retained {
				claims[pvc.Name] = pvc.UID
			}
		}
		for _, p := range []*corev1.Pod{
			legacyPod(c, leaderSts, leader0, resources.RoleLeader, ""),
			legacyPod(c, replicaSts, replica0, resources.RoleReplica, leader0),
			legacyPod(c, replicaSts, replica1, resources.RoleReplica, leader0),
		} {
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			pods[p.Name] = p.UID
			markReady(p.Name, true)
		}

		By("starting their storage nodes: a leader and two replicas")
		addrs = []string{freeAddr(), freeAddr(), freeAddr()}
		nodes = append(nodes, startNode(dir, name, leader0, addrs[0], "--role", "leader", "--replicas", addrs[1]+","+addrs[2]))
		for i, id := range []string{replica0, replica1} {
			nodes = append(nodes, startNode(dir, name, id, addrs[i+1], "--role", "replica", "--leader", addrs[0]))
		}
		DeferCleanup(func() {
			for _, n := range nodes {
				n.stop()
			}
			reportLogs(dir, nodes...)
		})
		// Only the leader answers at first: replicas that do not answer
		// hold the rollout, so the adoption can be seen before any pod is
		// replaced. The replicas are routed once it has been checked.
		endpoints.Store(name+"/"+nodes[0].id, nodes[0].addr)
		DeferCleanup(func() {
			for _, n := range nodes {
				endpoints.Delete(name + "/" + n.id)
			}
			if led != nil {
				led.close()
			}
		})

		Consistently(func(g Gomega) {
			got := cluster(g)
			g.Expect(got.Status.CurrentLeader).To(BeEmpty())
			g.Expect(got.Status.ObservedGeneration).To(BeZero())
			g.Expect(podNames(g, name)).To(ConsistOf(leader0, replica0, replica1))
		}).WithTimeout(2*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), "a paused cluster is left alone")
	})

	It("adopts the StatefulSets' pods and volumes as instances when reconciling resumes", func() {
		patch := []byte(`{"metadata":{"annotations":{"` + sutrav1.AnnotationReconcile + `":null}}}`)
		Expect(k8sClient.Patch(ctx, &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
			client.RawPatch(types.MergePatchType, patch))).To(Succeed())

		Eventually(func(g Gomega) {
			for _, sts := range []string{name + "-leader", name + "-replica"} {
				got := &appsv1.StatefulSet{}
				err := k8sClient.Get(ctx, key(sts), got)
				if apierrors.IsNotFound(err) {
					continue
				}
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got.DeletionTimestamp).NotTo(BeNil(), "StatefulSet %s is deleted", sts)
				g.Expect(got.Finalizers).To(ContainElement(metav1.FinalizerOrphanDependents), "its pods are orphaned, not deleted")
			}
			owner := cluster(g)
			for pod, uid := range pods {
				p := getPod(pod)(g)
				g.Expect(p.UID).To(Equal(uid), "pod %s kept", pod)
				g.Expect(metav1.IsControlledBy(p, owner)).To(BeTrue(), "pod %s controlled by the cluster", pod)
				g.Expect(p.OwnerReferences).To(HaveLen(1))
				g.Expect(p.Labels).To(HaveKeyWithValue(resources.LabelInstanceName, pod))
			}
			for claim := range claims {
				pvc := &corev1.PersistentVolumeClaim{}
				g.Expect(k8sClient.Get(ctx, key(claim), pvc)).To(Succeed())
				g.Expect(pvc.Labels).To(HaveKey(resources.LabelInstanceName), claim)
			}
			expectClaimsKept(g)
			st := owner.Status
			g.Expect(st.CurrentLeader).To(Equal(leader0))
			var names []string
			for _, in := range st.Instances {
				names = append(names, in.Name)
			}
			g.Expect(names).To(ConsistOf(leader0, replica0, replica1))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		Consistently(func(g Gomega) {
			g.Expect(podNames(g, name)).To(ConsistOf(leader0, replica0, replica1), "no new instance is made")
			p := &corev1.Pod{}
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(name+"-1"), p))).To(BeTrue())
			pvc := &corev1.PersistentVolumeClaim{}
			g.Expect(k8sClient.Get(ctx, key(retained), pvc)).To(Succeed())
			g.Expect(pvc.Labels).NotTo(HaveKey(resources.LabelInstanceName), "a claim kept by an old scale down is not an instance")
			g.Expect(cluster(g).Status.CurrentLeader).To(Equal(leader0))
			for pod, uid := range pods {
				g.Expect(getPod(pod)(g).UID).To(Equal(uid))
			}
		}).WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	})

	It("rolls the adopted pods to the current template, replicas first, the leader last by switchover, keeping every volume and write", func() {
		led = newLedger(addrs...)
		go led.run()
		Eventually(led.count).WithTimeout(timeout).Should(BeNumerically(">", 200))

		start := time.Now()
		for _, n := range nodes[1:] {
			endpoints.Store(name+"/"+n.id, n.addr)
		}
		order := rollOut(name, nodes, 90*time.Second, expectClaimsKept)
		pause := led.longestGap(start, time.Now())
		fmt.Fprintf(GinkgoWriter, "upgrade rollout order: %v; longest write pause %v\n", order, pause.Round(time.Millisecond))
		AddReportEntry("upgrade rollout write pause", pause.Round(time.Millisecond).String())

		Expect(order).To(Equal([]string{replica0 + "(replica)", replica1 + "(replica)", leader0 + "(replica)"}),
			"replicas first, then the old leader after the switchover made it a replica")
		st := cluster(Default).Status
		Expect(st.CurrentLeader).To(BeElementOf(replica0, replica1))
		Expect(st.LastFailover).NotTo(BeNil())
		Expect(st.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonSwitchover))
		Expect(st.LastFailover.From).To(Equal(leader0))
		Expect(podNames(Default, name)).To(ConsistOf(leader0, replica0, replica1))
		for _, n := range nodes {
			p := getPod(n.id)(Default)
			Expect(p.Annotations).To(HaveKey(resources.AnnotationSpecHash))
			Expect(p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName).To(Equal(resources.ClaimName(n.id)))
		}
		expectClaimsKept(Default)
	})

	It("holds every acknowledged write on every node, with equal digests", func() {
		led.expectNothingLost(nodes)
	})
})
