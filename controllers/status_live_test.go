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

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
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

// markReady sets a pod's Ready condition as the kubelet would (envtest runs
// no kubelet).
func markReady(name string, ready bool) {
	GinkgoHelper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	Eventually(func(g Gomega) {
		p := &corev1.Pod{}
		g.Expect(k8sClient.Get(ctx, key(name), p)).To(Succeed())
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
		g.Expect(k8sClient.Status().Update(ctx, p)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

// routeInstances points the operator at local processes for a cluster's
// instances.
func routeInstances(cluster string, nodes ...*storageNode) {
	for _, n := range nodes {
		endpoints.Store(cluster+"/"+n.id, n.addr)
	}
	DeferCleanup(func() {
		for _, n := range nodes {
			endpoints.Delete(cluster + "/" + n.id)
		}
	})
}

// buildServer builds cmd/storage-server into dir once per process.
func buildServer(dir string) string {
	GinkgoHelper()
	bin := filepath.Join(dir, "storage-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/storage-server")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/storage-server:\n%s", out)
	return bin
}

// startNode runs a storage server for instance id of cluster.
func startNode(dir, cluster, id, addr string, args ...string) *storageNode {
	GinkgoHelper()
	n := &storageNode{id: id, addr: addr}
	var err error
	n.log, err = os.OpenFile(filepath.Join(dir, id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	Expect(err).NotTo(HaveOccurred())
	base := []string{"--listen", n.addr, "--advertise", n.addr, "--data-dir", filepath.Join(dir, id),
		"--node-id", id, "--cluster-id", ns + "." + cluster, "--metrics-addr", "127.0.0.1:0",
		"--heartbeat-interval", "100ms", "--lag-threshold", "5s", "--unsafe-no-fsync", "--insecure"}
	n.cmd = exec.Command(filepath.Join(dir, "storage-server"), append(base, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	Expect(n.cmd.Start()).To(Succeed())
	return n
}

func reportLogs(dir string, nodes ...*storageNode) {
	if CurrentSpecReport().Failed() {
		for _, n := range nodes {
			b, _ := os.ReadFile(filepath.Join(dir, n.id+".log"))
			AddReportEntry(n.id+".log", string(b))
		}
	}
}

var _ = Describe("Status from real storage nodes", Ordered, func() {
	const name = "live"
	var (
		dir     string
		leader  *storageNode
		replica []*storageNode
	)

	BeforeAll(func() {
		dir = GinkgoT().TempDir()
		By("building the storage server")
		buildServer(dir)

		By("starting a leader and two replicas on 127.0.0.1")
		r0, r1 := freeAddr(), freeAddr()
		leader = startNode(dir, name, name+"-1", freeAddr(), "--role", "leader", "--replicas", r0+","+r1)
		for i, addr := range []string{r0, r1} {
			replica = append(replica, startNode(dir, name, fmt.Sprintf("%s-%d", name, i+2), addr, "--role", "replica", "--leader", leader.addr))
		}
		all := append([]*storageNode{leader}, replica...)
		DeferCleanup(func() {
			for _, n := range all {
				n.stop()
			}
			reportLogs(dir, all...)
		})
		routeInstances(name, all...)

		By("creating the SutraCluster and marking its pods ready")
		c := plaintext(newCluster(name, 2))
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		c.Spec.Replication.LagThresholdMs = 5000
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), c) })
		for _, n := range all {
			Eventually(getPod(n.id)).WithTimeout(timeout).Should(Not(BeNil()))
			markReady(n.id, true)
		}
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
			g.Expect(st.Leader.Pod).To(Equal(name + "-1"))
			g.Expect(st.CurrentLeader).To(Equal(name + "-1"))
			g.Expect(st.LeaderSequence).To(BeNumerically(">=", int64(last)))
			g.Expect(st.ReplicaStatuses).To(HaveLen(2))
			for i, r := range st.ReplicaStatuses {
				g.Expect(r.Name).To(Equal(fmt.Sprintf("%s-%d", name, i+2)))
				g.Expect(r.State).To(Equal("streaming"))
				g.Expect(r.Healthy).To(BeTrue(), "replica %s", r.Name)
				g.Expect(r.LastAppliedSequence).To(BeNumerically(">=", int64(last)))
				g.Expect(r.LastDurableSequence).To(BeNumerically(">=", int64(last)), "replica %s made everything durable", r.Name)
				g.Expect(r.LagEntries).To(BeZero())
				g.Expect(r.FlushLagMs).To(BeNumerically("<", 5000))
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
		Expect(cells[1]).To(Equal(name + "-1"))
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
		Expect(out).To(MatchRegexp(name + `\s+` + name + `-1\s+2\s+2\s+\d+m?s\s+Running`))
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
