package controllers

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// bindPod binds a pod to a node as the scheduler would.
func bindPod(pod, node string) {
	GinkgoHelper()
	p := getPod(pod)(Default)
	Expect(k8sClient.SubResource("binding").Create(ctx, p, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	})).To(Succeed())
	Expect(getPod(pod)(Default).Spec.NodeName).To(Equal(node))
}

// cordon sets a node's spec.unschedulable, as kubectl cordon (and the start
// of kubectl drain) does.
func cordon(node string, unschedulable bool) {
	GinkgoHelper()
	n := &corev1.Node{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: node}, n)).To(Succeed())
	patched := n.DeepCopy()
	patched.Spec.Unschedulable = unschedulable
	Expect(k8sClient.Patch(ctx, patched, client.MergeFrom(n))).To(Succeed())
}

// selects says whether a PodDisruptionBudget selects pod.
func selects(g Gomega, pdb *policyv1.PodDisruptionBudget, pod *corev1.Pod) bool {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	g.Expect(err).NotTo(HaveOccurred())
	return sel.Matches(labels.Set(pod.Labels))
}

var _ = Describe("Drain of the leader's node", Ordered, func() {
	const name = "drain"
	nodeA, nodeB := "drain-node-a", "drain-node-b"
	var (
		dir   string
		nodes []*storageNode
		addrs []string
		led   *ledger
	)
	cluster := func(g Gomega) *sutrav1.SutraCluster { return clusterNamed(g, name) }
	pdb := func(g Gomega, pdbName string) *policyv1.PodDisruptionBudget {
		got := &policyv1.PodDisruptionBudget{}
		g.Expect(k8sClient.Get(ctx, key(pdbName), got)).To(Succeed())
		return got
	}

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		buildServer(dir)
		addrs = []string{freeAddr(), freeAddr(), freeAddr()}
		nodes = append(nodes, startNode(dir, name, name+"-1", addrs[0], "--role", "leader", "--replicas", addrs[1]+","+addrs[2]))
		for i := 1; i < 3; i++ {
			nodes = append(nodes, startNode(dir, name, fmt.Sprintf("%s-%d", name, i+1), addrs[i], "--role", "replica", "--leader", addrs[0]))
		}
		DeferCleanup(func() {
			for _, n := range nodes {
				n.stop()
			}
			reportLogs(dir, nodes...)
		})
		routeInstances(name, nodes...)

		for _, n := range []string{nodeA, nodeB} {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}
			Expect(k8sClient.Create(ctx, node)).To(Succeed())
			DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), node) })
		}

		c := plaintext(newCluster(name, 2))
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		c.Spec.FailoverDelay = &metav1.Duration{Duration: time.Second}
		c.Spec.Replication.LagThresholdMs = 5000
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		DeferCleanup(func() {
			bg := context.Background()
			_ = k8sClient.Delete(bg, c)
			// Bound pods wait for a kubelet to go; there is none.
			for _, n := range nodes {
				_ = k8sClient.Delete(bg, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n.id, Namespace: ns}}, client.GracePeriodSeconds(0))
			}
		})
		for i, n := range nodes {
			Eventually(getPod(n.id)).WithTimeout(timeout).Should(Not(BeNil()))
			node := nodeB
			if i == 0 {
				node = nodeA
			}
			bindPod(n.id, node)
			markReady(n.id, true)
		}
		Eventually(func(g Gomega) {
			st := cluster(g).Status
			g.Expect(st.Phase).To(Equal(sutrav1.PhaseRunning))
			g.Expect(st.CurrentLeader).To(Equal(name + "-1"))
			for _, in := range st.Instances {
				if in.Name == name+"-1" {
					g.Expect(in.Node).To(Equal(nodeA))
				} else {
					g.Expect(in.Node).To(Equal(nodeB))
				}
			}
		}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		led = startLedger(addrs...)
	})

	It("guards the leader with a PodDisruptionBudget of minAvailable 1", func() {
		leaderPDB := pdb(Default, name+"-leader")
		Expect(leaderPDB.Spec.MinAvailable).To(HaveValue(Equal(intstr.FromInt32(1))))
		Expect(leaderPDB.Spec.Selector.MatchLabels).To(HaveKeyWithValue(resources.LabelRole, resources.RoleLeader))
		Expect(selects(Default, leaderPDB, getPod(name+"-1")(Default))).To(BeTrue())
		Expect(selects(Default, leaderPDB, getPod(name+"-2")(Default))).To(BeFalse())
		replicas := pdb(Default, name)
		Expect(replicas.Spec.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(1))))
		Expect(selects(Default, replicas, getPod(name+"-1")(Default))).To(BeFalse())
	})

	It("switches over to a replica on another node when the leader's node is cordoned, losing no acknowledged write", func() {
		cordoned := time.Now()
		cordon(nodeA, true)
		var newLeader string
		Eventually(func(g Gomega) {
			st := cluster(g).Status
			g.Expect(st.CurrentLeader).To(BeElementOf(name+"-2", name+"-3"))
			g.Expect(st.LastFailover).NotTo(BeNil())
			g.Expect(st.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonSwitchover))
			g.Expect(st.LastFailover.From).To(Equal(name + "-1"))
			newLeader = st.CurrentLeader
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(getPod(newLeader)(Default).Spec.NodeName).To(Equal(nodeB))

		By("putting the old leader under the replicas' budget")
		Eventually(func(g Gomega) {
			old := getPod(name + "-1")(g)
			g.Expect(old.Labels).To(HaveKeyWithValue(resources.LabelRole, resources.RoleReplica))
			g.Expect(selects(g, pdb(g, name), old)).To(BeTrue(), "the replicas' budget (maxUnavailable 1) covers it")
			g.Expect(selects(g, pdb(g, name+"-leader"), old)).To(BeFalse())
			g.Expect(selects(g, pdb(g, name+"-leader"), getPod(newLeader)(g))).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		Eventually(func() bool { _, ok := led.firstAckAfter(time.Now().Add(-100 * time.Millisecond)); return ok }).WithTimeout(timeout).Should(BeTrue())
		pause := led.longestGap(cordoned, time.Now())
		fmt.Fprintf(GinkgoWriter, "drain of %s: switchover %s-1 -> %s, longest write pause %v\n", nodeA, name, newLeader, pause.Round(time.Millisecond))
		AddReportEntry("drain switchover write pause", pause.Round(time.Millisecond).String())
		Expect(pause).To(BeNumerically("<", 5*time.Second))

		expectStreaming(name, 2)
	})

	It("does not switch over when every replica is on a cordoned node", func() {
		leader := cluster(Default).Status.CurrentLeader
		last := cluster(Default).Status.LastFailover.DeepCopy()
		// The leader and one replica are on B, the other replica on A,
		// which is still cordoned: no replica can take over away from
		// cordoned nodes.
		cordon(nodeB, true)
		Consistently(func(g Gomega) {
			st := cluster(g).Status
			g.Expect(st.CurrentLeader).To(Equal(leader))
			g.Expect(st.TargetLeader).To(BeElementOf("", leader))
			g.Expect(st.LastFailover).To(Equal(last))
		}).WithTimeout(4 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())

		By("switching over once a node is uncordoned")
		cordon(nodeA, false)
		Eventually(func(g Gomega) {
			st := cluster(g).Status
			g.Expect(st.CurrentLeader).To(Equal(name + "-1"))
			g.Expect(st.LastFailover.From).To(Equal(leader))
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		cordon(nodeB, false)
	})

	It("holds every acknowledged write on every node, with equal digests", func() {
		led.expectNothingLost(nodes)
	})
})
