package controllers

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

func clusterNamed(g Gomega, name string) *sutrav1.SutraCluster {
	got := &sutrav1.SutraCluster{}
	g.Expect(k8sClient.Get(ctx, key(name), got)).To(Succeed())
	return got
}

// expectStreaming waits until the cluster is Running with replicas rows,
// each streaming.
func expectStreaming(name string, replicas int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		st := clusterNamed(g, name).Status
		g.Expect(st.ReplicaStatuses).To(HaveLen(replicas))
		for _, r := range st.ReplicaStatuses {
			g.Expect(r.State).To(Equal("streaming"), r.Name)
		}
		g.Expect(st.Phase).To(Equal(sutrav1.PhaseRunning))
	}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
}

// rollOut marks every pod of nodes that the operator makes again ready
// (as the kubelet would; the storage processes keep running) until every
// instance of cluster runs the current template, checking each also on
// every poll. It returns the order in which pods were made again, each
// with the role it had just before.
func rollOut(cluster string, nodes []*storageNode, timeout time.Duration, each func(Gomega)) []string {
	GinkgoHelper()
	uids := map[string]types.UID{}
	roles := map[string]string{}
	for _, n := range nodes {
		p := getPod(n.id)(Default)
		uids[n.id], roles[n.id] = p.UID, p.Labels[resources.LabelRole]
	}
	var order []string
	Eventually(func(g Gomega) {
		for _, n := range nodes {
			p := &corev1.Pod{}
			if err := k8sClient.Get(ctx, key(n.id), p); err != nil || p.DeletionTimestamp != nil {
				continue
			}
			if p.UID != uids[n.id] {
				order = append(order, n.id+"("+roles[n.id]+")")
				uids[n.id] = p.UID
				markReady(n.id, true)
			}
			roles[n.id] = p.Labels[resources.LabelRole]
		}
		if each != nil {
			each(g)
		}
		got := clusterNamed(g, cluster)
		st := got.Status
		g.Expect(st.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(st.Instances).To(HaveLen(len(nodes)))
		for _, in := range st.Instances {
			g.Expect(in.UpToDate).To(BeTrue(), in.Name)
		}
		g.Expect(st.Phase).To(Equal(sutrav1.PhaseRunning))
	}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(Succeed())
	return order
}

// expectNothingLost stops the writes and checks that every node holds
// every acknowledged write, with one digest.
func (l *ledger) expectNothingLost(nodes []*storageNode) {
	GinkgoHelper()
	l.halt()
	total := l.count()
	Eventually(func(g Gomega) {
		for i := 1; i < len(nodes); i++ {
			a, b := l.stats(0), l.stats(i)
			g.Expect(b.GetAppliedSequence()).To(Equal(a.GetAppliedSequence()), nodes[i].id)
			g.Expect(b.GetDigest()).To(Equal(a.GetDigest()), nodes[i].id)
		}
	}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
	for i, n := range nodes {
		lost := l.lost(i)
		fmt.Fprintf(GinkgoWriter, "ledger: %s holds %d of %d acknowledged writes (%d lost)\n", n.id, total-lost, total, lost)
		Expect(lost).To(BeZero(), n.id)
	}
}

// startLedger starts writing to addrs and waits for 200 acknowledged
// writes; the writes stop at the end of the container.
func startLedger(addrs ...string) *ledger {
	GinkgoHelper()
	l := newLedger(addrs...)
	go l.run()
	DeferCleanup(l.close)
	Eventually(l.count).WithTimeout(timeout).Should(BeNumerically(">", 200))
	return l
}

// plaintext sets spec.tls.mode Disabled: the live tests' storage nodes run
// without certificates, and the operator must dial them in plaintext.
func plaintext(c *sutrav1.SutraCluster) *sutrav1.SutraCluster {
	c.Spec.TLS.Mode = sutrav1.TLSDisabled
	return c
}
