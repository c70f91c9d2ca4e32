//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// One cluster goes through its whole life in order. ContinueOnFailure: a
// failed step does not hide the results of the later ones (each waits for the
// state it needs first).
var _ = Describe("A SutraCluster", Ordered, ContinueOnFailure, func() {
	const name = "e2e"
	leader := name + "-leader-0"

	It("becomes Available with ReplicationHealthy from one leader and two replicas", func(ctx SpecContext) {
		sc := newCluster(name, 2)
		sc.Spec.PVCRetentionPolicy = sutrav1.PVCRetentionPolicy{WhenDeleted: sutrav1.PVCDelete, WhenScaled: sutrav1.PVCRetain}
		Expect(k8s.Create(ctx, sc)).To(Succeed())
		waitHealthy(ctx, name, 2)
		sc = getCluster(ctx, name)
		Expect(sc.Status.Phase).To(Equal(sutrav1.PhaseRunning))
		Expect(sc.Status.Leader).NotTo(BeNil())
		Expect(sc.Status.Leader.Pod).To(Equal(leader))
	}, SpecTimeout(8*time.Minute))

	It("replicates 10,000+ concepts written through the leader Service to every replica", func(ctx SpecContext) {
		res := runBench(ctx, name, "bench-initial", replicaPods(name, 2),
			"--duration", "8s", "--batch", "50", "--connections", "16", "--settle", "60s")
		Expect(res.Errors).To(BeZero())
		Expect(res.Writes).To(BeNumerically(">=", 10000))
		Expect(res.Converged).To(BeTrue(), "digests: %v", res.Digests)

		ls := waitConverged(ctx, name, replicaPods(name, 2))
		Expect(ls.Concepts).To(BeNumerically(">=", 10000))
		Expect(ls.Role).To(ContainSubstring("leader"))
	}, SpecTimeout(8*time.Minute))

	It("shows replicas and max lag in kubectl get and each replica in kubectl sutra status", func(ctx SpecContext) {
		Eventually(func(g Gomega) {
			out := kc(ctx, "-n", testNS, "get", "sutraclusters")
			g.Expect(out).To(MatchRegexp(`(?m)^NAME\s+LEADER\s+REPLICAS\s+READY\s+MAX LAG\s+PHASE`))
			g.Expect(out).To(MatchRegexp(`(?m)^` + name + `\s+` + leader + `\s+2\s+2\s+\S*\d+(\.\d+)?(ns|µs|us|ms|s)\s+Running`))
		}).WithContext(ctx).Should(Succeed())
		out := kc(ctx, "sutra", "status", name, "-n", testNS)
		GinkgoWriter.Println(out)
		for _, r := range replicaPods(name, 2) {
			Expect(out).To(MatchRegexp(`(?m)^` + r + `\s+streaming\s`))
		}
	}, SpecTimeout(4*time.Minute))

	It("scales from 2 to 3 replicas and the new replica catches up", func(ctx SpecContext) {
		kc(ctx, "-n", testNS, "scale", "sutracluster/"+name, "--replicas=3")
		waitHealthy(ctx, name, 3)
		waitConverged(ctx, name, replicaPods(name, 3))
	}, SpecTimeout(8*time.Minute))

	It("brings a deleted replica pod back and it catches up on writes it missed", func(ctx SpecContext) {
		victim := name + "-replica-1"
		old := &corev1.Pod{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: victim}, old)).To(Succeed())
		Expect(k8s.Delete(ctx, old)).To(Succeed())
		// Write while the replica is away; only the leader and the others are measured.
		res := runBench(ctx, name, "bench-replica-away", []string{name + "-replica-0"},
			"--duration", "3s", "--batch", "20", "--connections", "8")
		Expect(res.Errors).To(BeZero())
		Eventually(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: victim}, p)).To(Succeed())
			g.Expect(p.UID).NotTo(Equal(old.UID))
		}).WithContext(ctx).Should(Succeed())
		waitHealthy(ctx, name, 3)
		waitConverged(ctx, name, replicaPods(name, 3))
	}, SpecTimeout(8*time.Minute))

	It("brings a deleted leader pod back with its data; replicas resume and no acknowledged write is lost", func(ctx SpecContext) {
		before := waitConverged(ctx, name, replicaPods(name, 3))
		old := &corev1.Pod{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: leader}, old)).To(Succeed())
		Expect(k8s.Delete(ctx, old)).To(Succeed())
		Eventually(func(g Gomega) {
			sc := getCluster(ctx, name)
			g.Expect(apimeta.IsStatusConditionTrue(sc.Status.Conditions, sutrav1.ConditionAvailable)).To(BeFalse())
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: leader}, p)).To(Succeed())
			g.Expect(p.UID).NotTo(Equal(old.UID))
		}).WithContext(ctx).Should(Succeed())
		waitHealthy(ctx, name, 3)
		after := waitConverged(ctx, name, replicaPods(name, 3))
		Expect(after.Concepts).To(Equal(before.Concepts), "concepts before %+v, after %+v", before, after)
		Expect(after.Digest).To(Equal(before.Digest), "the leader's state changed across its restart")

		By("writing through the restarted leader")
		res := runBench(ctx, name, "bench-after-leader", replicaPods(name, 3), "--duration", "3s", "--batch", "20")
		Expect(res.Errors).To(BeZero())
		Expect(res.Converged).To(BeTrue(), "digests: %v", res.Digests)
	}, SpecTimeout(10*time.Minute))

	It("reports a replica partitioned from the leader and recovers when the partition heals", func(ctx SpecContext) {
		if partitionMode == "skip" {
			Skip("no way to partition pods on this cluster (set E2E_PARTITION=host|kind)")
		}
		victim := name + "-replica-0"
		heal := partition(ctx, podIP(ctx, leader), podIP(ctx, victim))
		DeferCleanup(heal)
		Eventually(func(g Gomega) {
			sc := getCluster(ctx, name)
			g.Expect(apimeta.IsStatusConditionFalse(sc.Status.Conditions, sutrav1.ConditionReplicationHealthy)).To(BeTrue(), condString(sc))
			var rs *sutrav1.ReplicaStatus
			for i := range sc.Status.ReplicaStatuses {
				if sc.Status.ReplicaStatuses[i].Name == victim {
					rs = &sc.Status.ReplicaStatuses[i]
				}
			}
			g.Expect(rs).NotTo(BeNil())
			g.Expect(rs.Healthy).To(BeFalse())
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		out, _ := runErr(ctx, kubectl, "sutra", "status", name, "-n", testNS)
		GinkgoWriter.Println(out)

		// Writes during the partition must reach the replica afterwards.
		res := runBench(ctx, name, "bench-partitioned", []string{name + "-replica-1"}, "--duration", "2s", "--batch", "20")
		Expect(res.Errors).To(BeZero())
		heal()
		waitHealthy(ctx, name, 3)
		waitConverged(ctx, name, replicaPods(name, 3))
	}, SpecTimeout(8*time.Minute))

	It("scales from 3 to 1 replica and keeps the removed replicas' volumes (whenScaled: Retain)", func(ctx SpecContext) {
		kc(ctx, "-n", testNS, "scale", "sutracluster/"+name, "--replicas=1")
		Eventually(func(g Gomega) {
			pods := &corev1.PodList{}
			g.Expect(k8s.List(ctx, pods, client.InNamespace(testNS), client.MatchingLabels{"storage.sutra.io/cluster": name})).To(Succeed())
			var names []string
			for _, p := range pods.Items {
				names = append(names, p.Name)
			}
			g.Expect(names).To(ConsistOf(leader, name+"-replica-0"))
		}).WithContext(ctx).Should(Succeed())
		waitHealthy(ctx, name, 1)
		waitConverged(ctx, name, replicaPods(name, 1))
		for _, p := range []string{name + "-replica-1", name + "-replica-2"} {
			Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: "data-" + p}, &corev1.PersistentVolumeClaim{})).To(Succeed())
		}
	}, SpecTimeout(6*time.Minute))

	It("rejects invalid resources with their messages", func(ctx SpecContext) {
		for _, tc := range []struct {
			mutate func(*sutrav1.SutraCluster)
			msg    string
		}{
			{func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](20) }, "replicas must be at most 15"},
			{func(c *sutrav1.SutraCluster) { c.Spec.Ports = sutrav1.PortsSpec{GRPC: 9000, Metrics: 9000} }, "ports.grpc and ports.metrics must differ"},
			{func(c *sutrav1.SutraCluster) { c.Spec.Image = "" }, "spec.image"},
		} {
			sc := newCluster("invalid", 1)
			tc.mutate(sc)
			err := k8s.Create(ctx, sc)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), err.Error())
			Expect(err.Error()).To(ContainSubstring(tc.msg))
		}
		// Through kubectl too, as a user sees it.
		out, err := runErr(ctx, kubectl, "-n", testNS, "scale", "sutracluster/"+name, "--replicas=16")
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring("replicas must be at most 15"))
	}, SpecTimeout(2*time.Minute))

	It("deletes its objects when the resource is deleted, and its volumes as whenDeleted says", func(ctx SpecContext) {
		sc := getCluster(ctx, name)
		Expect(k8s.Delete(ctx, sc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ownedLeft(ctx, name)).To(BeEmpty())
		}).WithContext(ctx).Should(Succeed())
		// whenDeleted: Delete removes every volume of the cluster, including
		// those kept by the earlier scale down (whenScaled: Retain).
		Eventually(func(g Gomega) {
			for _, p := range append([]string{leader}, replicaPods(name, 3)...) {
				err := k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: "data-" + p}, &corev1.PersistentVolumeClaim{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "data-%s: %v", p, err)
			}
		}).WithContext(ctx).Should(Succeed())
	}, SpecTimeout(5*time.Minute))

	It("keeps the volumes of a deleted cluster by default (whenDeleted: Retain)", func(ctx SpecContext) {
		const keep = "keep"
		Expect(k8s.Create(ctx, newCluster(keep, 0))).To(Succeed())
		Eventually(func(g Gomega) {
			sc := getCluster(ctx, keep)
			g.Expect(apimeta.IsStatusConditionTrue(sc.Status.Conditions, sutrav1.ConditionAvailable)).To(BeTrue(), condString(sc))
		}).WithContext(ctx).WithTimeout(4 * time.Minute).Should(Succeed())
		Expect(k8s.Delete(ctx, getCluster(ctx, keep))).To(Succeed())
		Eventually(func(g Gomega) { g.Expect(ownedLeft(ctx, keep)).To(BeEmpty()) }).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: "data-" + keep + "-leader-0"}, &corev1.PersistentVolumeClaim{})).To(Succeed())
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
	}, SpecTimeout(6*time.Minute))

	It("leaves no operator objects behind after helm uninstall", func(ctx SpecContext) {
		run(ctx, helm, "uninstall", releaseName, "--namespace", operatorNamespace, "--wait")
		Eventually(func(g Gomega) {
			out := kc(ctx, "get", "deployments,services,serviceaccounts,roles,rolebindings,configmaps,clusterroles,clusterrolebindings",
				"--all-namespaces", "-l", "app.kubernetes.io/instance="+releaseName, "-o", "name")
			g.Expect(strings.TrimSpace(out)).To(BeEmpty())
			pods := kc(ctx, "-n", operatorNamespace, "get", "pods", "-o", "name")
			g.Expect(strings.TrimSpace(pods)).To(BeEmpty())
		}).WithContext(ctx).Should(Succeed())
		// CRDs in a chart's crds/ directory are never removed by helm (by design).
		kc(ctx, "get", "crd", "sutraclusters.storage.sutra.io")
	}, SpecTimeout(4*time.Minute))
})

// ownedLeft lists the objects of cluster `name` still present: StatefulSets,
// Services, ConfigMaps, PodDisruptionBudgets and pods with its label.
func ownedLeft(ctx SpecContext, name string) []string {
	var left []string
	sel := client.MatchingLabels{"storage.sutra.io/cluster": name}
	lists := map[string]client.ObjectList{
		"statefulset": &appsv1.StatefulSetList{}, "service": &corev1.ServiceList{},
		"configmap": &corev1.ConfigMapList{}, "pod": &corev1.PodList{},
	}
	for kind, l := range lists {
		Expect(k8s.List(ctx, l, client.InNamespace(testNS), sel)).To(Succeed())
		items, err := apimeta.ExtractList(l)
		Expect(err).NotTo(HaveOccurred())
		for _, o := range items {
			left = append(left, fmt.Sprintf("%s/%s", kind, o.(client.Object).GetName()))
		}
	}
	out := kc(ctx, "-n", testNS, "get", "pdb,statefulsets,services,configmaps", "-o", "name")
	for _, l := range strings.Fields(out) {
		if strings.Contains(l, "/"+name+"-") || strings.HasSuffix(l, "/"+name) {
			left = append(left, l)
		}
	}
	return left
}
