//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// newCluster is a SutraCluster in the test namespace with the e2e image,
// on mutual TLS (the default for a new cluster).
func newCluster(name string, replicas int32) *sutrav1.SutraCluster {
	return &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec: sutrav1.SutraClusterSpec{
			Replicas:           ptr.To(replicas),
			Image:              storageImage,
			ImagePullPolicy:    corev1.PullIfNotPresent,
			StatusPollInterval: metav1.Duration{Duration: 2 * time.Second},
		},
	}
}

func getCluster(ctx context.Context, name string) *sutrav1.SutraCluster {
	sc := &sutrav1.SutraCluster{}
	ExpectWithOffset(1, k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: name}, sc)).To(Succeed())
	return sc
}

// waitHealthy waits until the cluster is Available, ReplicationHealthy and
// reports `replicas` ready replicas, each streaming.
func waitHealthy(ctx context.Context, name string, replicas int32) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		sc := &sutrav1.SutraCluster{}
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: name}, sc)).To(Succeed())
		g.Expect(apimeta.IsStatusConditionTrue(sc.Status.Conditions, sutrav1.ConditionAvailable)).To(BeTrue(), "Available: %s", condString(sc))
		g.Expect(apimeta.IsStatusConditionTrue(sc.Status.Conditions, sutrav1.ConditionReplicationHealthy)).To(BeTrue(), "ReplicationHealthy: %s", condString(sc))
		g.Expect(sc.Status.ReadyReplicas).To(Equal(replicas))
		g.Expect(sc.Status.ReplicaStatuses).To(HaveLen(int(replicas)))
		for _, r := range sc.Status.ReplicaStatuses {
			g.Expect(r.Healthy).To(BeTrue(), "replica %s: %+v", r.Name, r)
		}
	}).WithContext(ctx).WithTimeout(5 * time.Minute).Should(Succeed())
}

func condString(sc *sutrav1.SutraCluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", sc.Status.Phase)
	for _, c := range sc.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return b.String()
}

// nodeAddr is the in-cluster gRPC address of a pod of cluster `name`.
func nodeAddr(name, pod string) string {
	return fmt.Sprintf("%s.%s-peers.%s.svc:%d", pod, name, testNS, sutrav1.DefaultGRPCPort)
}

// leaderPod is status.currentLeader.
func leaderPod(ctx context.Context, name string) string {
	GinkgoHelper()
	l := getCluster(ctx, name).Status.CurrentLeader
	Expect(l).NotTo(BeEmpty())
	return l
}

// replicaPods are the cluster's instances other than its current leader.
func replicaPods(ctx context.Context, name string) []string {
	GinkgoHelper()
	sc := getCluster(ctx, name)
	var pods []string
	for _, in := range sc.Status.Instances {
		if in.Name != sc.Status.CurrentLeader {
			pods = append(pods, in.Name)
		}
	}
	return pods
}

// instancePods are every instance's pod.
func instancePods(ctx context.Context, name string) []string {
	return append([]string{leaderPod(ctx, name)}, replicaPods(ctx, name)...)
}

// benchResult is the part of `sutractl bench --json` the suite reads.
type benchResult struct {
	Writes    int64             `json:"writes"`
	Errors    int64             `json:"errors"`
	Digests   map[string]string `json:"digests"`
	Converged bool              `json:"converged"`
}

// runBench runs `sutractl bench` in a Job inside the cluster, writing through
// the leader Service, and returns its result.
func runBench(ctx context.Context, cluster, job string, replicas []string, args ...string) benchResult {
	GinkgoHelper()
	addrs := make([]string, len(replicas))
	for i, r := range replicas {
		addrs[i] = nodeAddr(cluster, r)
	}
	return runBenchAt(ctx, rwAddr(cluster), cluster, job, replicas, args...)
}

// runBenchAt is runBench writing to leader.
func runBenchAt(ctx context.Context, leader, cluster, job string, replicas []string, args ...string) benchResult {
	GinkgoHelper()
	addrs := make([]string, len(replicas))
	for i, r := range replicas {
		addrs[i] = nodeAddr(cluster, r)
	}
	cmd := []string{"/sutractl", "bench", "--json", "--leader", leader}
	if len(addrs) > 0 {
		cmd = append(cmd, "--replicas", strings.Join(addrs, ","))
	}
	cmd = append(cmd, args...)
	out := waitJob(ctx, startJob(ctx, cluster, job, cmd))
	var res benchResult
	Expect(json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &res)).To(Succeed(), out)
	return res
}

// rwAddr is the cluster's read-write Service.
func rwAddr(cluster string) string {
	return fmt.Sprintf("%s-rw.%s.svc:%d", cluster, testNS, sutrav1.DefaultGRPCPort)
}

// ledgerResult is the part of `sutractl ledger --json` the suite reads.
type ledgerResult struct {
	Acked        int            `json:"acked"`
	Errors       int            `json:"errors"`
	LongestGapMs float64        `json:"longestGapMs"`
	Lost         map[string]int `json:"lost"`
	Converged    bool           `json:"converged"`
}

// startLedger runs `sutractl ledger` in a Job: it writes through NAME-rw
// for duration and then checks every acknowledged write on every pod of
// pods. Wait for its result with waitLedger.
func startLedger(ctx context.Context, cluster, job string, duration time.Duration, pods []string) *batchv1.Job {
	GinkgoHelper()
	addrs := make([]string, len(pods))
	for i, p := range pods {
		addrs[i] = nodeAddr(cluster, p)
	}
	return startJob(ctx, cluster, job, []string{"/sutractl", "ledger", "--json", "--addr", rwAddr(cluster),
		"--check", strings.Join(addrs, ","), "--duration", duration.String(), "--connections", "4", "--settle", "2m"})
}

func waitLedger(ctx context.Context, j *batchv1.Job) ledgerResult {
	GinkgoHelper()
	out := waitJob(ctx, j)
	var res ledgerResult
	Expect(json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &res)).To(Succeed(), out)
	return res
}

// startJob starts a Job running cmd (a sutractl command) in the storage
// image. For a cluster on TLS it mounts the cluster's NAME-client Secret
// and gives sutractl its certificate: the Job is an application, identity
// urn:sutra:writer:NAME.
func startJob(ctx context.Context, cluster, job string, cmd []string) *batchv1.Job {
	GinkgoHelper()
	spec := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{
			Name: "bench", Image: storageImage, ImagePullPolicy: corev1.PullIfNotPresent,
			Command: cmd,
		}},
	}
	if onTLS(ctx, cluster) {
		const dir = "/etc/sutra/client"
		spec.Volumes = []corev1.Volume{{Name: "client", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: cluster + "-client"}}}}
		spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "client", MountPath: dir, ReadOnly: true}}
		spec.Containers[0].Command = append(cmd, "--ca", dir+"/ca.crt", "--cert", dir+"/tls.crt", "--key", dir+"/tls.key")
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: job, Namespace: testNS},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](0),
			TTLSecondsAfterFinished: ptr.To[int32](600),
			Template:                corev1.PodTemplateSpec{Spec: spec},
		},
	}
	Expect(k8s.Create(ctx, j)).To(Succeed())
	return j
}

// onTLS says whether the cluster's nodes speak mutual TLS.
func onTLS(ctx context.Context, cluster string) bool {
	GinkgoHelper()
	return getCluster(ctx, cluster).Spec.TLS.Mode == sutrav1.TLSEnabled
}

// nodeTLSFlags are the sutractl flags that present, from inside a storage
// pod, that node's own certificate (identity urn:sutra:node:POD: it may
// read, not write); none for a cluster without TLS.
func nodeTLSFlags(ctx context.Context, cluster string) []string {
	if !onTLS(ctx, cluster) {
		return nil
	}
	const dir = "/etc/sutra/tls"
	return []string{"--ca", dir + "/ca.crt", "--cert", dir + "/tls.crt", "--key", dir + "/tls.key"}
}

// waitJob waits for a Job to succeed and returns its logs.
func waitJob(ctx context.Context, j *batchv1.Job) string {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(j), j)).To(Succeed())
		g.Expect(j.Status.Failed).To(BeZero(), "job %s failed:\n%s", j.Name, jobLogs(ctx, j.Name))
		g.Expect(j.Status.Succeeded).To(BeNumerically("==", 1))
	}).WithContext(ctx).WithTimeout(6 * time.Minute).Should(Succeed())
	out := jobLogs(ctx, j.Name)
	GinkgoWriter.Printf("job %s:\n%s\n", j.Name, out)
	return out
}

func jobLogs(ctx context.Context, job string) string {
	out, _ := runErr(ctx, kubectl, "-n", testNS, "logs", "job/"+job)
	return out
}

// nodeStats is one row of `sutractl stats`.
type nodeStats struct {
	Node, Role, Digest string
	Concepts, Applied  int64
}

// stats runs `sutractl stats` inside the first pod against the given pods.
func stats(ctx context.Context, cluster string, pods ...string) (map[string]nodeStats, error) {
	addrs := make([]string, len(pods))
	for i, p := range pods {
		addrs[i] = nodeAddr(cluster, p)
	}
	out, err := runErr(ctx, kubectl, append([]string{"-n", testNS, "exec", pods[0], "-c", "storage", "--",
		"/sutractl", "stats", "--addr", strings.Join(addrs, ",")}, nodeTLSFlags(ctx, cluster)...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	return parseStats(out), nil
}

// parseStats reads the table `sutractl stats` prints.
func parseStats(out string) map[string]nodeStats {
	res := map[string]nodeStats{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		var s nodeStats
		s.Node, s.Role, s.Digest = f[0], f[1], f[5]
		_, _ = fmt.Sscan(f[2], &s.Concepts)
		_, _ = fmt.Sscan(f[4], &s.Applied)
		res[s.Node] = s
	}
	return res
}

// waitConverged waits until every replica reports the leader's digest
// and returns the leader's stats.
func waitConverged(ctx context.Context, cluster string, replicas []string) nodeStats {
	GinkgoHelper()
	leader := leaderPod(ctx, cluster)
	var ls nodeStats
	Eventually(func(g Gomega) {
		st, err := stats(ctx, cluster, append([]string{leader}, replicas...)...)
		g.Expect(err).NotTo(HaveOccurred())
		ls = st[leader]
		g.Expect(ls.Digest).NotTo(BeEmpty())
		for _, r := range replicas {
			g.Expect(st).To(HaveKey(r))
			g.Expect(st[r].Digest).To(Equal(ls.Digest), "replica %s: %+v, leader %+v", r, st[r], ls)
		}
	}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())
	return ls
}

func podIP(ctx context.Context, name string) string {
	GinkgoHelper()
	p := &corev1.Pod{}
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: name}, p)).To(Succeed())
	Expect(p.Status.PodIP).NotTo(BeEmpty())
	return p.Status.PodIP
}

const partitionComment = "sutra-e2e-partition"

// partition drops traffic between two pod IPs in the FORWARD chain of the
// node (both directions) and returns a function that heals it.
func partition(ctx context.Context, a, b string) func() {
	GinkgoHelper()
	rules := [][]string{
		{"FORWARD", "-s", a, "-d", b, "-j", "DROP", "-m", "comment", "--comment", partitionComment},
		{"FORWARD", "-s", b, "-d", a, "-j", "DROP", "-m", "comment", "--comment", partitionComment},
	}
	ipt := func(op string, r []string) (string, error) {
		args := append([]string{op}, r...)
		if partitionMode == "kind" {
			node := envOr("E2E_KIND_NODE", "sutra-e2e-control-plane")
			return runErr(ctx, "docker", append([]string{"exec", node, "iptables"}, args...)...)
		}
		return runErr(ctx, "iptables", args...)
	}
	for _, r := range rules {
		out, err := ipt("-I", r)
		Expect(err).NotTo(HaveOccurred(), out)
	}
	healed := false
	return func() {
		if healed {
			return
		}
		healed = true
		for _, r := range rules {
			out, err := ipt("-D", r)
			Expect(err).NotTo(HaveOccurred(), out)
		}
	}
}

// saveArtifacts writes pod logs, events and the SutraClusters' YAML of the
// test and operator namespaces under artifactsDir/<spec>/.
func saveArtifacts(ctx context.Context, report SpecReport) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(report.FullText(), "_")
	if len(name) > 120 {
		name = name[:120]
	}
	dir := filepath.Join(artifactsDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		GinkgoWriter.Printf("artifacts: %v\n", err)
		return
	}
	save := func(file string, args ...string) {
		cmd := exec.CommandContext(ctx, kubectl, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			out = append(out, []byte("\nerror: "+err.Error())...)
		}
		_ = os.WriteFile(filepath.Join(dir, file), out, 0o644)
	}
	for _, ns := range []string{testNS, operatorNamespace} {
		if ns == "" {
			continue
		}
		save(ns+"-sutraclusters.yaml", "-n", ns, "get", "sutraclusters", "-o", "yaml")
		save(ns+"-objects.txt", "-n", ns, "get", "all,pvc,configmaps,pdb", "-o", "wide")
		save(ns+"-events.txt", "-n", ns, "get", "events", "--sort-by=.lastTimestamp")
		save(ns+"-pods.txt", "-n", ns, "describe", "pods")
		pods := &corev1.PodList{}
		if err := k8s.List(ctx, pods, client.InNamespace(ns)); err == nil {
			for _, p := range pods.Items {
				save(ns+"-"+p.Name+".log", "-n", ns, "logs", p.Name, "--all-containers", "--timestamps")
				save(ns+"-"+p.Name+".previous.log", "-n", ns, "logs", p.Name, "--all-containers", "--previous", "--timestamps")
			}
		}
	}
	save("pv.txt", "get", "pv", "-o", "wide")
	save("nodes.txt", "describe", "nodes")
	GinkgoWriter.Printf("artifacts of the failed spec saved in %s\n", dir)
}

// waitWriting waits until the leader's sequence has moved by 200 entries:
// a ledger Job started is writing.
func waitWriting(ctx context.Context, name string) {
	GinkgoHelper()
	start := getCluster(ctx, name).Status.LeaderSequence
	Eventually(func() int64 { return getCluster(ctx, name).Status.LeaderSequence }).
		WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(BeNumerically(">", start+200))
}

func podNode(ctx context.Context, pod string) string {
	GinkgoHelper()
	p := &corev1.Pod{}
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: pod}, p)).To(Succeed())
	Expect(p.Spec.NodeName).NotTo(BeEmpty())
	return p.Spec.NodeName
}

// podUIDs maps each pod to its UID ("" when it does not exist or is
// terminating).
func podUIDs(ctx context.Context, pods []string) map[string]types.UID {
	out := map[string]types.UID{}
	for _, name := range pods {
		p := &corev1.Pod{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: name}, p); err == nil && p.DeletionTimestamp == nil {
			out[name] = p.UID
		} else {
			out[name] = ""
		}
	}
	return out
}

func podIPsMatching(ctx context.Context, ns string, labels client.MatchingLabels) []string {
	GinkgoHelper()
	pods := &corev1.PodList{}
	Expect(k8s.List(ctx, pods, client.InNamespace(ns), labels)).To(Succeed())
	var ips []string
	for _, p := range pods.Items {
		if p.Status.PodIP != "" {
			ips = append(ips, p.Status.PodIP)
		}
	}
	return ips
}

func operatorPodIPs(ctx context.Context) []string {
	return podIPsMatching(ctx, operatorNamespace, client.MatchingLabels{"app.kubernetes.io/instance": releaseName})
}

func jobPodIPs(ctx context.Context, job string) []string {
	return podIPsMatching(ctx, testNS, client.MatchingLabels{"job-name": job})
}

// partitionFrom cuts ip off from every address of others and returns a
// function that heals all of it.
func partitionFrom(ctx context.Context, ip string, others []string) func() {
	GinkgoHelper()
	var heals []func()
	for _, o := range others {
		heals = append(heals, partition(ctx, ip, o))
	}
	return func() {
		for _, h := range heals {
			h()
		}
	}
}

// printFigure prints a measured figure and keeps it in the report.
func printFigure(title, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	GinkgoWriter.Printf("FIGURE %s: %s\n", title, line)
	AddReportEntry(title, line)
}

// claimUIDs maps each instance to the UID of its claim data-INSTANCE.
func claimUIDs(ctx context.Context, instances []string) map[string]types.UID {
	GinkgoHelper()
	out := map[string]types.UID{}
	for _, in := range instances {
		pvc := &corev1.PersistentVolumeClaim{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: testNS, Name: "data-" + in}, pvc)).To(Succeed())
		out[in] = pvc.UID
	}
	return out
}
