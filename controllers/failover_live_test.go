package controllers

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
	"github.com/sutra/sutra-operator/internal/resources"
)

// ledger writes concepts in a loop to whichever node accepts them and
// records every acknowledged write with the time of its acknowledgement.
type ledger struct {
	addrs   []string
	clients []storagepb.StorageServiceClient
	conns   []*grpc.ClientConn

	mu    sync.Mutex
	acked []uint64    // concept ids
	at    []time.Time // acknowledgement times
	by    []int       // the index of the node that acknowledged
	next  atomic.Uint64
	stop  chan struct{}
	done  chan struct{}
}

func newLedger(addrs ...string) *ledger {
	GinkgoHelper()
	l := &ledger{addrs: addrs, stop: make(chan struct{}), done: make(chan struct{})}
	for _, a := range addrs {
		conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
		Expect(err).NotTo(HaveOccurred())
		l.conns = append(l.conns, conn)
		l.clients = append(l.clients, storagepb.NewStorageServiceClient(conn))
	}
	return l
}

func conceptID(n uint64) []byte {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

// run writes until stopped, moving to the next node after a failure.
func (l *ledger) run() {
	defer close(l.done)
	cur := 0
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		n := l.next.Add(1)
		wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := l.clients[cur].WriteConcept(wctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{
			Id: conceptID(n), Content: []byte(fmt.Sprintf("ledger %d", n)), Strength: 1, Confidence: 1}})
		cancel()
		if err != nil {
			cur = (cur + 1) % len(l.clients)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		l.acked, l.at, l.by = append(l.acked, n), append(l.at, time.Now()), append(l.by, cur)
		l.mu.Unlock()
	}
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// firstAckAfter is the first acknowledgement after t.
func (l *ledger) firstAckAfter(t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.at {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// firstAckBy is the first acknowledgement by node i after t.
func (l *ledger) firstAckBy(i int, t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, at := range l.at {
		if l.by[k] == i && at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// longestGap is the longest time between two acknowledgements in [from, to].
func (l *ledger) longestGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gap time.Duration
	prev := from
	for _, at := range l.at {
		if at.Before(from) || at.After(to) {
			continue
		}
		gap = max(gap, at.Sub(prev))
		prev = at
	}
	return max(gap, to.Sub(prev))
}

// halt stops the writes; the connections stay for checks.
func (l *ledger) halt() {
	select {
	case <-l.done:
	default:
		close(l.stop)
		<-l.done
	}
}

func (l *ledger) close() {
	l.halt()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// lost counts the acknowledged writes node i does not hold.
func (l *ledger) lost(i int) int {
	GinkgoHelper()
	l.mu.Lock()
	ids := append([]uint64(nil), l.acked...)
	l.mu.Unlock()
	missing := 0
	for _, n := range ids {
		if _, err := l.clients[i].GetConcept(ctx, &storagepb.GetConceptRequest{Id: conceptID(n)}); err != nil {
			missing++
		}
	}
	return missing
}

func (l *ledger) stats(i int) *storagepb.Stats {
	GinkgoHelper()
	st, err := l.clients[i].GetStats(ctx, &storagepb.GetStatsRequest{})
	Expect(err).NotTo(HaveOccurred())
	return st
}

var _ = Describe("Failover and switchover with real storage nodes", Ordered, func() {
	const name = "fo"
	var (
		dir   string
		nodes []*storageNode
		addrs []string
		led   *ledger
	)
	cluster := func(g Gomega) *sutrav1.SutraCluster { return clusterNamed(g, name) }
	indexOf := func(instance string) int {
		for i, n := range nodes {
			if n.id == instance {
				return i
			}
		}
		Fail("no node " + instance)
		return -1
	}

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		buildServer(dir)
		addrs = []string{freeAddr(), freeAddr(), freeAddr()}
		peers := addrs[0] + "," + addrs[1] + "," + addrs[2]
		sync := []string{"--sync-replicas", "1", "--replicas", peers}
		nodes = append(nodes, startNode(dir, name, name+"-1", addrs[0], append([]string{"--role", "leader"}, sync...)...))
		for i := 1; i < 3; i++ {
			nodes = append(nodes, startNode(dir, name, fmt.Sprintf("%s-%d", name, i+1), addrs[i],
				append([]string{"--role", "replica", "--leader", addrs[0]}, sync...)...))
		}
		DeferCleanup(func() {
			for _, n := range nodes {
				n.stop()
			}
			reportLogs(dir, nodes...)
		})
		routeInstances(name, nodes...)

		c := plaintext(newCluster(name, 2))
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		c.Spec.FailoverDelay = &metav1.Duration{Duration: time.Second}
		c.Spec.Replication.LagThresholdMs = 5000
		c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 1}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), c) })
		for _, n := range nodes {
			Eventually(getPod(n.id)).WithTimeout(timeout).Should(Not(BeNil()))
			markReady(n.id, true)
		}
		Eventually(func(g Gomega) {
			g.Expect(cluster(g).Status.Phase).To(Equal(sutrav1.PhaseRunning))
		}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		led = startLedger(addrs...)
	})

	It("promotes the most advanced replica when the leader dies, losing no acknowledged write", func() {
		before := led.count()
		Expect(nodes[0].cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		_ = nodes[0].cmd.Wait()
		killed := time.Now()
		markReady(name+"-1", false) // as the kubelet would once its probe fails

		var newLeader string
		Eventually(func(g Gomega) {
			st := cluster(g).Status
			g.Expect(st.CurrentLeader).To(BeElementOf(name+"-2", name+"-3"))
			g.Expect(st.LastFailover).NotTo(BeNil())
			g.Expect(st.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonFailover))
			g.Expect(st.LastFailover.From).To(Equal(name + "-1"))
			g.Expect(st.LastFailover.EntriesLost).To(BeZero(), "synchronous failover")
			newLeader = st.CurrentLeader
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Eventually(func() bool { _, ok := led.firstAckAfter(killed); return ok }).WithTimeout(timeout).Should(BeTrue())
		first, _ := led.firstAckAfter(killed)
		fmt.Fprintf(GinkgoWriter, "failover: leader killed -> first acknowledged write on %s: %v (failoverDelay 1s, %d writes acknowledged before)\n",
			newLeader, first.Sub(killed).Round(time.Millisecond), before)
		AddReportEntry("failover time", first.Sub(killed).Round(time.Millisecond).String())

		By("moving the role labels: the old leader's pod comes back as a replica of the new one")
		Eventually(func(g Gomega) {
			old, nl := getPod(name+"-1")(g), getPod(newLeader)(g)
			g.Expect(old.Labels).To(HaveKeyWithValue(resources.LabelRole, resources.RoleReplica))
			g.Expect(old.Annotations).To(HaveKeyWithValue(resources.AnnotationLeader, fmt.Sprintf("%s.%s-peers.%s.svc:50051", newLeader, name, ns)))
			g.Expect(nl.Labels).To(HaveKeyWithValue(resources.LabelRole, resources.RoleLeader))
			g.Expect(nl.Annotations).NotTo(HaveKey(resources.AnnotationLeader))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		By("restarting the old leader as its pod says: a replica")
		nodes[0] = startNode(dir, name, name+"-1", addrs[0], "--role", "replica", "--leader", addrs[indexOf(newLeader)],
			"--sync-replicas", "1", "--replicas", addrs[0]+","+addrs[1]+","+addrs[2])
		markReady(name+"-1", true)
		expectStreaming(name, 2)
	})

	It("switches over on request with no acknowledged write lost and prints the write pause", func() {
		old := cluster(Default).Status.CurrentLeader
		Expect(old).NotTo(Equal(name + "-1"))
		asked := time.Now()
		Expect(k8sClient.Status().Patch(ctx, &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
			client.RawPatch(types.MergePatchType, []byte(`{"status":{"targetLeader":"`+name+`-1"}}`)))).To(Succeed())
		Eventually(func(g Gomega) {
			st := cluster(g).Status
			g.Expect(st.CurrentLeader).To(Equal(name + "-1"))
			g.Expect(st.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonSwitchover))
			g.Expect(st.LastFailover.From).To(Equal(old))
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Eventually(func() bool { _, ok := led.firstAckAfter(time.Now().Add(-100 * time.Millisecond)); return ok }).WithTimeout(timeout).Should(BeTrue())
		done := time.Now()
		pause := led.longestGap(asked, done)
		fmt.Fprintf(GinkgoWriter, "switchover %s -> %s-1: longest write pause %v\n", old, name, pause.Round(time.Millisecond))
		AddReportEntry("switchover write pause", pause.Round(time.Millisecond).String())
		Expect(pause).To(BeNumerically("<", 5*time.Second))
	})

	It("rolls an image change out replicas first, one at a time, and the leader last by switchover", func() {
		leader := cluster(Default).Status.CurrentLeader
		start := time.Now()
		updateCluster(name, func(c *sutrav1.SutraCluster) { c.Spec.Image = "sutra/storage:2.0" })
		order := rollOut(name, nodes, 60*time.Second, nil)
		fmt.Fprintf(GinkgoWriter, "rollout order: %v; longest write pause %v\n", order, led.longestGap(start, time.Now()).Round(time.Millisecond))
		Expect(order).To(HaveLen(3))
		Expect(order[0]).To(HaveSuffix("(replica)"))
		Expect(order[1]).To(HaveSuffix("(replica)"))
		Expect(order[2]).To(Equal(leader+"(replica)"), "the old leader is updated last, after the switchover made it a replica")
		st := cluster(Default).Status
		Expect(st.CurrentLeader).NotTo(Equal(leader))
		Expect(st.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonSwitchover))
		Expect(led.longestGap(start, time.Now())).To(BeNumerically("<", 5*time.Second))
	})

	It("stops a rollout at a pod that does not start, with the leader untouched, and recovers when reverted", func() {
		leader := cluster(Default).Status.CurrentLeader
		leaderUID := getPod(leader)(Default).UID
		updateCluster(name, func(c *sutrav1.SutraCluster) { c.Spec.Image = "sutra/storage:typo" })
		var failing string
		Eventually(func(g Gomega) {
			for _, n := range nodes {
				p := getPod(n.id)(g)
				if p.Spec.Containers[0].Image == "sutra/storage:typo" && len(p.Status.ContainerStatuses) == 0 {
					failing = n.id
					p.Status = corev1.PodStatus{Phase: corev1.PodPending,
						Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
						ContainerStatuses: []corev1.ContainerStatus{{Name: resources.ContainerName, Image: "sutra/storage:typo",
							State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}}
					g.Expect(k8sClient.Status().Update(ctx, p)).To(Succeed())
				}
			}
			got := cluster(g)
			g.Expect(failing).NotTo(BeEmpty(), "progressing: %+v", findCondition(got, sutrav1.ConditionProgressing))
			cond := findCondition(got, sutrav1.ConditionRolloutBlocked)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(cond.Message).To(ContainSubstring(failing + " does not start: ErrImagePull"))
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(failing).NotTo(Equal(leader))
		Consistently(func(g Gomega) {
			g.Expect(getPod(leader)(g).UID).To(Equal(leaderUID))
			g.Expect(cluster(g).Status.CurrentLeader).To(Equal(leader))
		}).WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		updateCluster(name, func(c *sutrav1.SutraCluster) { c.Spec.Image = "sutra/storage:2.0" })
		order := rollOut(name, nodes, 60*time.Second, nil)
		Expect(order).To(Equal([]string{failing + "(replica)"}))
		Expect(getPod(leader)(Default).UID).To(Equal(leaderUID))
		Expect(findCondition(cluster(Default), sutrav1.ConditionRolloutBlocked).Status).To(Equal(metav1.ConditionFalse))
	})

	It("fails over from a leader that answers no one while its pod still reads ready, and makes it follow when it is back", func() {
		old := cluster(Default).Status.CurrentLeader
		stopped := nodes[indexOf(old)]
		Expect(stopped.cmd.Process.Signal(syscall.SIGSTOP)).To(Succeed())
		cut := time.Now()
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				_ = stopped.cmd.Process.Signal(syscall.SIGCONT)
			}
		}
		DeferCleanup(resume)
		var leader string
		Eventually(func(g Gomega) {
			st := cluster(g).Status
			g.Expect(st.CurrentLeader).NotTo(Equal(old))
			g.Expect(st.LastFailover.Reason).To(Equal(sutrav1.FailoverReasonFailover))
			leader = st.CurrentLeader
		}).WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Eventually(func() bool { _, ok := led.firstAckBy(indexOf(leader), cut); return ok }).WithTimeout(timeout).Should(BeTrue())
		first, _ := led.firstAckBy(indexOf(leader), cut)
		fmt.Fprintf(GinkgoWriter, "failover from a silent leader: stopped -> first acknowledged write on %s: %v (failoverDelay 1s)\n",
			leader, first.Sub(cut).Round(time.Millisecond))
		Expect(getPod(old)(Default).Labels).To(HaveKeyWithValue(resources.LabelRole, resources.RoleReplica))

		resume()
		expectStreaming(name, 2)
		Expect(cluster(Default).Status.CurrentLeader).To(Equal(leader))
	})

	It("fences the leader on request, with no failover meanwhile, and lifts the fence", func() {
		leader := cluster(Default).Status.CurrentLeader
		epoch := cluster(Default).Status.Epoch
		setAnnotation := func(value *string) {
			GinkgoHelper()
			v := "null"
			if value != nil {
				v = `"` + *value + `"`
			}
			Expect(k8sClient.Patch(ctx, &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+sutrav1.AnnotationFenced+`":`+v+`}}}`)))).To(Succeed())
		}
		on := "true"
		setAnnotation(&on)
		Eventually(func(g Gomega) {
			got := cluster(g)
			g.Expect(findCondition(got, sutrav1.ConditionFenced)).To(HaveField("Status", metav1.ConditionTrue))
			g.Expect(findCondition(got, sutrav1.ConditionAvailable)).To(HaveField("Reason", "Fenced"))
		}).WithTimeout(timeout).WithPolling(100 * time.Millisecond).Should(Succeed())
		time.Sleep(500 * time.Millisecond) // writes in flight end
		held := led.count()
		Consistently(func(g Gomega) {
			g.Expect(led.count()).To(Equal(held), "a fenced leader acknowledged a write")
			g.Expect(cluster(g).Status.CurrentLeader).To(Equal(leader))
		}).WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		setAnnotation(nil)
		Eventually(led.count).WithTimeout(timeout).Should(BeNumerically(">", held+100))
		st := cluster(Default).Status
		Expect(st.CurrentLeader).To(Equal(leader))
		Expect(findCondition(cluster(Default), sutrav1.ConditionFenced).Status).To(Equal(metav1.ConditionFalse))
		Eventually(func() int64 { return cluster(Default).Status.Epoch }).WithTimeout(timeout).Should(BeNumerically(">", epoch))
	})

	It("holds every acknowledged write on every node, with equal digests", func() {
		led.expectNothingLost(nodes)
	})
})
