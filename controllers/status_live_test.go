package controllers

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// storageNode is one storage-server process on 127.0.0.1.
type storageNode struct {
	id, addr string
	cmd      *exec.Cmd
	log      *os.File
}

func (n *storageNode) stop() {
	if n.cmd == nil || n.cmd.Process == nil || n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	_ = n.log.Close()
}

func freeAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

// markReady sets a StatefulSet's status as the StatefulSet controller would
// once its pods are ready (envtest runs no controllers).
func markReady(name string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		s := &appsv1.StatefulSet{}
		g.Expect(k8sClient.Get(ctx, key(name), s)).To(Succeed())
		want := ptr.Deref(s.Spec.Replicas, 1)
		s.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: s.Generation, Replicas: want, ReadyReplicas: want, AvailableReplicas: want,
			CurrentReplicas: want, UpdatedReplicas: want, CurrentRevision: "r1", UpdateRevision: "r1",
		}
		g.Expect(k8sClient.Status().Update(ctx, s)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

var _ = Describe("Status from real storage nodes", Ordered, func() {
	const name = "live"
	var (
		dir     string
		leader  *storageNode
		replica []*storageNode
	)

	start := func(id, addr string, args ...string) *storageNode {
		GinkgoHelper()
		n := &storageNode{id: id, addr: addr}
		var err error
		n.log, err = os.Create(filepath.Join(dir, id+".log"))
		Expect(err).NotTo(HaveOccurred())
		base := []string{"--listen", n.addr, "--advertise", n.addr, "--data-dir", filepath.Join(dir, id),
			"--node-id", id, "--cluster-id", ns + "." + name, "--metrics-addr", "127.0.0.1:0",
			"--heartbeat-interval", "100ms", "--lag-threshold", "5s", "--unsafe-no-fsync"}
		n.cmd = exec.Command(filepath.Join(dir, "storage-server"), append(base, args...)...)
		n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
		Expect(n.cmd.Start()).To(Succeed())
		return n
	}

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		By("building the storage server")
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "storage-server"), "./cmd/storage-server")
		build.Dir = ".."
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build ./cmd/storage-server:\n%s", out)

		By("starting a leader and two replicas on 127.0.0.1")
		r0, r1 := freeAddr(), freeAddr()
		leader = start(name+"-leader-0", freeAddr(), "--role", "leader", "--replicas", r0+","+r1)
		for i, addr := range []string{r0, r1} {
			replica = append(replica, start(fmt.Sprintf("%s-replica-%d", name, i), addr, "--role", "replica", "--leader", leader.addr))
		}
		DeferCleanup(func() {
			for _, n := range append([]*storageNode{leader}, replica...) {
				n.stop()
			}
			if CurrentSpecReport().Failed() {
				for _, n := range append([]*storageNode{leader}, replica...) {
					b, _ := os.ReadFile(filepath.Join(dir, n.id+".log"))
					AddReportEntry(n.id+".log", string(b))
				}
			}
		})
		endpoints.Store(name, leader.addr)
		DeferCleanup(func() { endpoints.Delete(name) })

		By("creating the SutraCluster and marking its StatefulSets ready")
		c := newCluster(name, 2)
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		c.Spec.Replication.LagThresholdMs = 5000
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), c) })
		Eventually(getSTS(name + "-replica")).WithTimeout(timeout).Should(Not(BeNil()))
		markReady(name + "-leader")
		markReady(name + "-replica")
	})

	It("reports every replica streaming after writes", func() {
		By("writing concepts on the leader")
		conn, err := grpc.NewClient(leader.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		storage := storagepb.NewStorageServiceClient(conn)
		var last uint64
		Eventually(func() error { // the leader may still be starting
			id := make([]byte, 16)
			resp, err := storage.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: id, Content: []byte("first")}})
			if err == nil {
				last = resp.GetSequence()
			}
			return err
		}).WithTimeout(timeout).WithPolling(200 * time.Millisecond).Should(Succeed())
		for i := 1; i <= 50; i++ {
			id := make([]byte, 16)
			binary.BigEndian.PutUint64(id[8:], uint64(i))
			resp, err := storage.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{
				Id: id, Content: []byte(fmt.Sprintf("concept %d", i)), Strength: 1, Confidence: 1}})
			Expect(err).NotTo(HaveOccurred())
			last = resp.GetSequence()
		}

		By("waiting for the status to show both replicas caught up")
		Eventually(func(g Gomega) {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(name), got)).To(Succeed())
			st := got.Status
			g.Expect(st.Leader).NotTo(BeNil())
			g.Expect(st.Leader.Pod).To(Equal(name + "-leader-0"))
			g.Expect(st.LeaderSequence).To(BeNumerically(">=", int64(last)))
			g.Expect(st.ReplicaStatuses).To(HaveLen(2))
			for i, r := range st.ReplicaStatuses {
				g.Expect(r.Name).To(Equal(fmt.Sprintf("%s-replica-%d", name, i)))
				g.Expect(r.State).To(Equal("streaming"))
				g.Expect(r.Healthy).To(BeTrue(), "replica %s", r.Name)
				g.Expect(r.LastAppliedSequence).To(BeNumerically(">=", int64(last)))
				g.Expect(r.LagEntries).To(BeZero())
				g.Expect(r.LastHeartbeat).NotTo(BeNil())
			}
			g.Expect(st.MaxLagMs).To(BeNumerically("<", 5000))
			g.Expect(st.MaxLag).To(Equal(formatLag(st.MaxLagMs)))
			g.Expect(st.LastStatusTime).NotTo(BeNil())
			cond := findCondition(got, sutrav1.ConditionReplicationHealthy)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
			g.Expect(cond.Reason).To(Equal(sutrav1.ReasonAllReplicasStreaming))
			g.Expect(st.Phase).To(Equal(sutrav1.PhaseRunning))
			g.Expect(st.ReadyReplicas).To(Equal(int32(2)))
		}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
	})

	It("renders the printer columns through the API server", func() {
		table := getTable(name)
		var columns []string
		for _, c := range table.ColumnDefinitions {
			columns = append(columns, c.Name)
		}
		Expect(columns).To(Equal([]string{"Name", "Leader", "Replicas", "Ready", "Max Lag", "Phase", "Age"}))
		Expect(table.Rows).To(HaveLen(1))
		cells := table.Rows[0].Cells
		Expect(cells[0]).To(Equal(name))
		Expect(cells[1]).To(Equal(name + "-leader-0"))
		Expect(cells[2]).To(BeNumerically("==", 2))
		Expect(cells[3]).To(BeNumerically("==", 2))
		Expect(cells[4]).To(MatchRegexp(`^\d+(ms|(\.\d+)?s)$`))
		Expect(cells[5]).To(Equal("Running"))

		By("running kubectl get against the envtest API server")
		admin, err := testEnv.AddUser(envtest.User{Name: "kubectl-admin", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		kubectl, err := admin.Kubectl()
		Expect(err).NotTo(HaveOccurred())
		stdout, stderr, err := kubectl.Run("get", "sutra", name, "-n", ns)
		Expect(err).NotTo(HaveOccurred(), "kubectl: %s", readAll(stderr))
		out := readAll(stdout)
		GinkgoWriter.Printf("kubectl get sutra %s:\n%s", name, out)
		Expect(out).To(MatchRegexp(`NAME\s+LEADER\s+REPLICAS\s+READY\s+MAX LAG\s+PHASE\s+AGE`))
		Expect(out).To(MatchRegexp(name + `\s+` + name + `-leader-0\s+2\s+2\s+\d+m?s\s+Running`))
	})

	It("turns ReplicationHealthy False naming a stopped replica", func() {
		replica[1].stop()
		stopped := replica[1].id
		Eventually(func(g Gomega) {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(name), got)).To(Succeed())
			cond := findCondition(got, sutrav1.ConditionReplicationHealthy)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(sutrav1.ReasonReplicaNotStreaming))
			g.Expect(cond.Message).To(ContainSubstring(stopped))
			g.Expect(cond.Message).NotTo(ContainSubstring(replica[0].id + " "))
			g.Expect(got.Status.ReplicaStatuses[1].Healthy).To(BeFalse())
			g.Expect(got.Status.ReplicaStatuses[0].Healthy).To(BeTrue())
			g.Expect(got.Status.Phase).To(Equal(sutrav1.PhaseDegraded))
			degraded := findCondition(got, sutrav1.ConditionDegraded)
			g.Expect(degraded.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(degraded.Message).To(ContainSubstring(stopped))
		}).WithTimeout(30 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		By("recording a ReplicationUnhealthy event")
		Eventually(func(g Gomega) {
			list := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			var reasons []string
			for _, e := range list.Items {
				if e.Regarding.Name == name {
					reasons = append(reasons, e.Reason)
				}
			}
			g.Expect(reasons).To(ContainElements(sutrav1.EventCreated, sutrav1.EventReplicationUnhealthy))
		}).WithTimeout(timeout).WithPolling(250 * time.Millisecond).Should(Succeed())
	})
})

// getTable GETs a SutraCluster as a meta.k8s.io Table, the way kubectl asks
// for printer columns.
func getTable(name string) *metav1.Table {
	GinkgoHelper()
	httpClient, err := rest.HTTPClientFor(cfg)
	Expect(err).NotTo(HaveOccurred())
	url := fmt.Sprintf("%s/apis/storage.sutra.io/v1alpha1/namespaces/%s/sutraclusters?fieldSelector=metadata.name=%s",
		strings.TrimSuffix(cfg.Host, "/"), ns, name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	table := &metav1.Table{}
	Expect(json.Unmarshal(body, table)).To(Succeed())
	return table
}

func readAll(r io.Reader) string {
	if r == nil {
		return ""
	}
	b, _ := io.ReadAll(r)
	return string(b)
}
