//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
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

	// The upgrade from the operator version that ran StatefulSets comes
	// first: it swaps the installed operator and puts it back.
	const upg = "upg"
	var upgClaims map[string]types.UID
	var upgDigest string
	upgPods := []string{upg + "-leader-0", upg + "-replica-0"}
	upgStats := func(ctx context.Context, in string) map[string]nodeStats {
		GinkgoHelper()
		var st map[string]nodeStats
		Eventually(func(g Gomega) {
			addrs := []string{nodeAddr(upg, upgPods[0]), nodeAddr(upg, upgPods[1])}
			out, err := runErr(ctx, kubectl, "-n", testNS, "exec", in, "-c", "storage", "--", "/sutractl", "stats", "--addr", strings.Join(addrs, ","))
			g.Expect(err).NotTo(HaveOccurred(), out)
			st = parseStats(out)
			g.Expect(st).To(HaveLen(2))
			g.Expect(st[upgPods[1]].Digest).To(Equal(st[upgPods[0]].Digest))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())
		return st
	}

	It("runs a cluster made by the previous operator version, on StatefulSets", func(ctx SpecContext) {
		installOperator(ctx, previousChart, previousOperatorImage)
		sc := newCluster(upg, 1)
		Expect(k8s.Create(ctx, sc)).To(Succeed())
		// That operator's pods set neither TLS nor SUTRA_INSECURE, which a
		// storage server of this version needs: give them plaintext by
		// choice, as a user running this image under it would. The operator
		// applies its StatefulSets server-side, so the variable stays.
		Eventually(func(g Gomega) {
			for _, sts := range []string{upg + "-leader", upg + "-replica"} {
				_, err := runErr(ctx, kubectl, "-n", testNS, "set", "env", "statefulset/"+sts, "-c", "storage", "SUTRA_INSECURE=true")
				g.Expect(err).NotTo(HaveOccurred())
			}
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			sts := &appsv1.StatefulSet{}
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: upg + "-leader"}, sts)).To(Succeed())
			sc := getCluster(ctx, upg)
			g.Expect(sc.Status.Phase).To(Equal(sutrav1.PhaseRunning), condString(sc))
		}).WithContext(ctx).WithTimeout(5 * time.Minute).Should(Succeed())
		res := runBenchAt(ctx, fmt.Sprintf("%s-leader.%s.svc:%d", upg, testNS, sutrav1.DefaultGRPCPort), upg, "bench-upgrade",
			upgPods[1:], "--duration", "3s", "--batch", "20")
		Expect(res.Errors).To(BeZero())
		Expect(res.Converged).To(BeTrue())
		upgDigest = upgStats(ctx, upgPods[0])[upgPods[0]].Digest
		upgClaims = claimUIDs(ctx, upgPods)
	}, SpecTimeout(8*time.Minute))

	It("keeps that cluster's data across the operator upgrade and rolls it onto instances", func(ctx SpecContext) {
		installOperator(ctx, "charts/sutra-operator", operatorImage)
		Eventually(func(g Gomega) {
			for _, n := range []string{upg + "-leader", upg + "-replica"} {
				err := k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: n}, &appsv1.StatefulSet{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "StatefulSet %s: %v", n, err)
			}
			sc := getCluster(ctx, upg)
			g.Expect(sc.Status.Instances).To(HaveLen(2))
			for _, in := range sc.Status.Instances {
				g.Expect(upgPods).To(ContainElement(in.Name))
				g.Expect(in.UpToDate).To(BeTrue(), in.Name)
			}
			g.Expect(sc.Status.Phase).To(Equal(sutrav1.PhaseRunning), condString(sc))
			g.Expect(sc.Status.LastFailover).NotTo(BeNil(), "the adopted leader is updated last, by switchover")
			g.Expect(sc.Status.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonSwitchover))
		}).WithContext(ctx).WithTimeout(6 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())
		Expect(claimUIDs(ctx, upgPods)).To(Equal(upgClaims), "the same volumes")
		st := upgStats(ctx, leaderPod(ctx, upg))
		printFigure("operator upgrade (StatefulSets to instances)", "digest before %s, after %s on both pods; leader now %s",
			upgDigest[:12], st[upgPods[0]].Digest[:12], leaderPod(ctx, upg))
		Expect(st[upgPods[0]].Digest).To(Equal(upgDigest), "the data written before the upgrade")
		Expect(k8s.Delete(ctx, getCluster(ctx, upg))).To(Succeed())
	}, SpecTimeout(10*time.Minute))

	It("becomes Available with ReplicationHealthy from one leader and two replicas", func(ctx SpecContext) {
		sc := newCluster(name, 2)
		sc.Spec.PVCRetentionPolicy = sutrav1.PVCRetentionPolicy{WhenDeleted: sutrav1.PVCDelete, WhenScaled: sutrav1.PVCRetain}
		sc.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 1}
		Expect(k8s.Create(ctx, sc)).To(Succeed())
		waitHealthy(ctx, name, 2)
		sc = getCluster(ctx, name)
		Expect(sc.Status.Phase).To(Equal(sutrav1.PhaseRunning))
		Expect(sc.Status.CurrentLeader).To(Equal(name + "-1"))
		Expect(sc.Status.Leader.Endpoint).To(Equal(rwAddr(name)))
		Expect(replicaPods(ctx, name)).To(ConsistOf(name+"-2", name+"-3"))
	}, SpecTimeout(8*time.Minute))

	It("replicates 10,000+ concepts written through the read-write Service to every replica", func(ctx SpecContext) {
		res := runBench(ctx, name, "bench-initial", replicaPods(ctx, name),
			"--duration", "8s", "--batch", "50", "--connections", "16", "--settle", "60s")
		Expect(res.Errors).To(BeZero())
		Expect(res.Writes).To(BeNumerically(">=", 10000))
		Expect(res.Converged).To(BeTrue(), "digests: %v", res.Digests)

		ls := waitConverged(ctx, name, replicaPods(ctx, name))
		Expect(ls.Concepts).To(BeNumerically(">=", 10000))
		Expect(ls.Role).To(ContainSubstring("leader"))
	}, SpecTimeout(8*time.Minute))

	It("shows replicas and max lag in kubectl get and each replica in kubectl sutra status", func(ctx SpecContext) {
		leader := leaderPod(ctx, name)
		Eventually(func(g Gomega) {
			out := kc(ctx, "-n", testNS, "get", "sutraclusters")
			g.Expect(out).To(MatchRegexp(`(?m)^NAME\s+LEADER\s+REPLICAS\s+READY\s+MAX LAG\s+PHASE`))
			g.Expect(out).To(MatchRegexp(`(?m)^` + name + `\s+` + leader + `\s+2\s+2\s+\S*\d+(\.\d+)?(ns|µs|us|ms|s)\s+Running`))
		}).WithContext(ctx).Should(Succeed())
		out := kc(ctx, "sutra", "status", name, "-n", testNS)
		GinkgoWriter.Println(out)
		Expect(out).To(MatchRegexp(`(?m)^TLS:\s+mutual TLS; \d+ certificates; first to expire: `))
		for _, r := range replicaPods(ctx, name) {
			Expect(out).To(MatchRegexp(`(?m)^` + r + `\s+streaming\s`))
		}
	}, SpecTimeout(4*time.Minute))

	It("streams over mutual TLS: plaintext and certificate-less clients are refused, and the NetworkPolicy bounds the gRPC port", func(ctx SpecContext) {
		sc := getCluster(ctx, name)
		Expect(sc.Spec.TLS.Mode).To(Equal(sutrav1.TLSEnabled), "a new cluster gets TLS")
		Expect(sc.Status.Certificates).NotTo(BeEmpty())
		for _, c := range sc.Status.Certificates {
			Expect(c.NotAfter.Time).To(BeTemporally(">", time.Now().Add(30*24*time.Hour)), c.SecretName)
		}
		pod := replicaPods(ctx, name)[0]
		leader := nodeAddr(name, leaderPod(ctx, name))
		exec := func(args ...string) (string, error) {
			return runErr(ctx, kubectl, append([]string{"-n", testNS, "exec", pod, "-c", "storage", "--", "/sutractl"}, args...)...)
		}
		out, err := exec("stats", "--addr", leader, "--timeout", "3s")
		Expect(err).To(HaveOccurred(), "a plaintext client was served: %s", out)
		refused, err := exec("stats", "--addr", leader, "--timeout", "3s", "--ca", "/etc/sutra/tls/ca.crt")
		Expect(err).To(HaveOccurred(), refused)
		Expect(refused).To(ContainSubstring("no client certificate"))
		out, err = exec(append([]string{"stats", "--addr", leader}, nodeTLSFlags(ctx, name)...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		out, err = exec(append([]string{"put", "--addr", leader, "--id", "x", "--content", "y", "--timeout", "3s"}, nodeTLSFlags(ctx, name)...)...)
		Expect(err).To(HaveOccurred(), "a node identity wrote: %s", out)
		Expect(out).To(ContainSubstring("needs write permission"))
		printFigure("mutual TLS", "plaintext client refused; certificate-less client: %s", strings.TrimSpace(refused))

		// The policy's content (the offline cluster's bridge CNI does not
		// enforce NetworkPolicies; docs/security-network.md).
		np := &networkingv1.NetworkPolicy{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: name}, np)).To(Succeed())
		Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress))
		Expect(np.Spec.PodSelector.MatchLabels).To(HaveKeyWithValue("storage.sutra.io/cluster", name))
		Expect(np.Spec.Ingress).To(HaveLen(3))
	}, SpecTimeout(2*time.Minute))

	It("scales from 2 to 3 replicas and the new replica catches up", func(ctx SpecContext) {
		kc(ctx, "-n", testNS, "scale", "sutracluster/"+name, "--replicas=3")
		waitHealthy(ctx, name, 3)
		Expect(replicaPods(ctx, name)).To(ContainElement(name + "-4"))
		waitConverged(ctx, name, replicaPods(ctx, name))
	}, SpecTimeout(8*time.Minute))

	It("brings a deleted replica pod back and it catches up on writes it missed", func(ctx SpecContext) {
		replicas := replicaPods(ctx, name)
		victim := replicas[1]
		old := &corev1.Pod{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: victim}, old)).To(Succeed())
		Expect(k8s.Delete(ctx, old)).To(Succeed())
		// Write while the replica is away; only the leader and the others are measured.
		res := runBench(ctx, name, "bench-replica-away", []string{replicas[0]},
			"--duration", "3s", "--batch", "20", "--connections", "8")
		Expect(res.Errors).To(BeZero())
		Eventually(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: victim}, p)).To(Succeed())
			g.Expect(p.UID).NotTo(Equal(old.UID))
		}).WithContext(ctx).Should(Succeed())
		waitHealthy(ctx, name, 3)
		waitConverged(ctx, name, replicaPods(ctx, name))
	}, SpecTimeout(8*time.Minute))

	It("fails over when the leader pod is deleted and its node cordoned, losing no acknowledged write", func(ctx SpecContext) {
		old := leaderPod(ctx, name)
		pods := instancePods(ctx, name)
		job := startLedger(ctx, name, "ledger-failover", 40*time.Second, pods)
		waitWriting(ctx, name)

		node := podNode(ctx, old)
		kc(ctx, "cordon", node)
		DeferCleanup(func(ctx SpecContext) { kc(ctx, "uncordon", node) })
		lost := time.Now()
		p := &corev1.Pod{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: old}, p)).To(Succeed())
		Expect(k8s.Delete(ctx, p)).To(Succeed())

		var leader string
		Eventually(func(g Gomega) {
			sc := getCluster(ctx, name)
			g.Expect(sc.Status.CurrentLeader).NotTo(Equal(old), condString(sc))
			g.Expect(sc.Status.LastFailover).NotTo(BeNil())
			g.Expect(sc.Status.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonFailover))
			leader = sc.Status.CurrentLeader
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		promoted := time.Since(lost)
		kc(ctx, "uncordon", node)

		res := waitLedger(ctx, job)
		printFigure("failover (leader pod deleted, node cordoned, failoverDelay 5s)",
			"%s -> %s: leader deleted -> new leader recorded %v; longest write pause %.0fms; %d writes acknowledged, lost %v",
			old, leader, promoted.Round(100*time.Millisecond), res.LongestGapMs, res.Acked, res.Lost)
		Expect(res.Converged).To(BeTrue())
		for pod, n := range res.Lost {
			Expect(n).To(BeZero(), pod)
		}
		Expect(res.LongestGapMs).To(BeNumerically("<", 20000), "failover must take at most 20 s")

		By("the old leader's pod comes back as a replica and catches up")
		waitHealthy(ctx, name, 3)
		Expect(replicaPods(ctx, name)).To(ContainElement(old))
		waitConverged(ctx, name, replicaPods(ctx, name))
	}, SpecTimeout(10*time.Minute))

	It("switches over with kubectl sutra promote, losing no acknowledged write", func(ctx SpecContext) {
		old := leaderPod(ctx, name)
		target := replicaPods(ctx, name)[0]
		job := startLedger(ctx, name, "ledger-switchover", 25*time.Second, instancePods(ctx, name))
		waitWriting(ctx, name)
		out := kc(ctx, "sutra", "promote", name, target, "-n", testNS, "--wait", "--timeout", "2m")
		GinkgoWriter.Println(out)
		res := waitLedger(ctx, job)
		printFigure("switchover (kubectl sutra promote)", "%s -> %s: longest write pause %.0fms; %d writes acknowledged, lost %v",
			old, target, res.LongestGapMs, res.Acked, res.Lost)
		Expect(getCluster(ctx, name).Status.CurrentLeader).To(Equal(target))
		Expect(getCluster(ctx, name).Status.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonSwitchover))
		for pod, n := range res.Lost {
			Expect(n).To(BeZero(), pod)
		}
		Expect(res.LongestGapMs).To(BeNumerically("<", 2000), "a switchover pauses writes for at most 2 s")
		waitHealthy(ctx, name, 3)
	}, SpecTimeout(8*time.Minute))

	It("restarts every pod with kubectl sutra restart: replicas first, the leader last by switchover", func(ctx SpecContext) {
		old := leaderPod(ctx, name)
		uids := podUIDs(ctx, instancePods(ctx, name))
		job := startLedger(ctx, name, "ledger-restart", 75*time.Second, instancePods(ctx, name))
		waitWriting(ctx, name)
		kc(ctx, "sutra", "restart", name, "-n", testNS)
		var order []string
		Eventually(func(g Gomega) {
			for pod, uid := range podUIDs(ctx, instancePods(ctx, name)) {
				if uid != "" && uid != uids[pod] && !slices.Contains(order, pod) {
					order = append(order, pod)
				}
			}
			g.Expect(order).To(HaveLen(len(uids)))
			sc := getCluster(ctx, name)
			for _, in := range sc.Status.Instances {
				g.Expect(in.UpToDate).To(BeTrue(), in.Name)
			}
			g.Expect(sc.Status.Phase).To(Equal(sutrav1.PhaseRunning), condString(sc))
		}).WithContext(ctx).WithTimeout(6 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		Expect(order[len(order)-1]).To(Equal(old), "the leader is restarted last")
		Expect(getCluster(ctx, name).Status.CurrentLeader).NotTo(Equal(old), "after a switchover")
		res := waitLedger(ctx, job)
		printFigure("rolling restart (kubectl sutra restart)", "order %v; longest write pause %.0fms; %d writes acknowledged, lost %v",
			order, res.LongestGapMs, res.Acked, res.Lost)
		for pod, n := range res.Lost {
			Expect(n).To(BeZero(), pod)
		}
		Expect(res.LongestGapMs).To(BeNumerically("<", 2000), "a leader update pauses writes for at most 2 s")
	}, SpecTimeout(10*time.Minute))

	It("stops a rollout at a bad image with the leader untouched, and recovers when it is reverted", func(ctx SpecContext) {
		leader := leaderPod(ctx, name)
		leaderUID := podUIDs(ctx, []string{leader})[leader]
		patchImage := func(image string) {
			kc(ctx, "-n", testNS, "patch", "sutracluster", name, "--type", "merge", "-p", `{"spec":{"image":"`+image+`"}}`)
		}
		patchImage("sutra-storage-server:does-not-exist")
		Eventually(func(g Gomega) {
			sc := getCluster(ctx, name)
			g.Expect(apimeta.IsStatusConditionTrue(sc.Status.Conditions, sutrav1.ConditionRolloutBlocked)).To(BeTrue(), condString(sc))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(podUIDs(ctx, []string{leader})[leader]).To(Equal(leaderUID))
			g.Expect(getCluster(ctx, name).Status.CurrentLeader).To(Equal(leader))
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
		res := runBench(ctx, name, "bench-bad-image", nil, "--duration", "2s", "--batch", "20")
		Expect(res.Errors).To(BeZero(), "writes go on during a blocked rollout")

		patchImage(storageImage)
		waitHealthy(ctx, name, 3)
		Expect(podUIDs(ctx, []string{leader})[leader]).To(Equal(leaderUID))
		sc := getCluster(ctx, name)
		Expect(apimeta.IsStatusConditionFalse(sc.Status.Conditions, sutrav1.ConditionRolloutBlocked)).To(BeTrue(), condString(sc))
	}, SpecTimeout(8*time.Minute))

	It("fails over from a leader partitioned from every pod; the old leader fences itself and rejoins as a replica", func(ctx SpecContext) {
		if partitionMode == "skip" {
			Skip("no way to partition pods on this cluster (set E2E_PARTITION=host|kind)")
		}
		old := leaderPod(ctx, name)
		job := startLedger(ctx, name, "ledger-partition", 45*time.Second, instancePods(ctx, name))
		waitWriting(ctx, name)
		var others []string
		for _, p := range replicaPods(ctx, name) {
			others = append(others, podIP(ctx, p))
		}
		others = append(others, operatorPodIPs(ctx)...)
		others = append(others, jobPodIPs(ctx, job.Name)...)
		heal := partitionFrom(ctx, podIP(ctx, old), others)
		DeferCleanup(heal)
		cut := time.Now()
		Eventually(func(g Gomega) {
			sc := getCluster(ctx, name)
			g.Expect(sc.Status.CurrentLeader).NotTo(Equal(old), condString(sc))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		promoted := time.Since(cut)
		Eventually(func(g Gomega) {
			// The node's own certificate may read its admin status, not write.
			out, err := runErr(ctx, kubectl, append([]string{"-n", testNS, "exec", old, "-c", "storage", "--",
				"/sutractl", "nodes", "--addr", "127.0.0.1:50051", "--timeout", "2s"}, nodeTLSFlags(ctx, name)...)...)
			g.Expect(err).NotTo(HaveOccurred(), out)
			g.Expect(out).To(ContainSubstring("fenced"))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		heal()
		res := waitLedger(ctx, job)
		printFigure("failover (leader partitioned, failoverDelay 5s)", "%s -> %s: partition -> new leader recorded %v; longest write pause %.0fms; %d writes acknowledged, lost %v",
			old, getCluster(ctx, name).Status.CurrentLeader, promoted.Round(100*time.Millisecond), res.LongestGapMs, res.Acked, res.Lost)
		for pod, n := range res.Lost {
			Expect(n).To(BeZero(), pod)
		}
		waitHealthy(ctx, name, 3)
		Expect(replicaPods(ctx, name)).To(ContainElement(old))
		waitConverged(ctx, name, replicaPods(ctx, name))
	}, SpecTimeout(10*time.Minute))

	It("scales from 3 to 1 replica and keeps the removed replicas' volumes (whenScaled: Retain)", func(ctx SpecContext) {
		before := instancePods(ctx, name)
		kc(ctx, "-n", testNS, "scale", "sutracluster/"+name, "--replicas=1")
		waitHealthy(ctx, name, 1)
		var after []string
		Eventually(func(g Gomega) {
			after = instancePods(ctx, name) // status.instances lists pods until they are gone
			g.Expect(after).To(HaveLen(2))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		Expect(before).To(ContainElements(after))
		waitConverged(ctx, name, replicaPods(ctx, name))
		for _, p := range before {
			pvc := &corev1.PersistentVolumeClaim{}
			Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: "data-" + p}, pvc)).To(Succeed())
			if !slices.Contains(after, p) {
				Expect(pvc.Labels).NotTo(HaveKey("storage.sutra.io/instance"), "a removed replica's claim is kept, not reused")
			}
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
			for i := 1; i <= 4; i++ {
				p := fmt.Sprintf("%s-%d", name, i)
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
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: "data-" + keep + "-1"}, &corev1.PersistentVolumeClaim{})).To(Succeed())
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

// ownedLeft lists the objects of cluster `name` still present: Services,
// ConfigMaps, PodDisruptionBudgets and pods with its label.
func ownedLeft(ctx SpecContext, name string) []string {
	var left []string
	sel := client.MatchingLabels{"storage.sutra.io/cluster": name}
	lists := map[string]client.ObjectList{
		"service":   &corev1.ServiceList{},
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
	out := kc(ctx, "-n", testNS, "get", "pdb,services,configmaps", "-o", "name")
	for _, l := range strings.Fields(out) {
		if strings.Contains(l, "/"+name+"-") || strings.HasSuffix(l, "/"+name) {
			left = append(left, l)
		}
	}
	return left
}
