package controllers

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

const (
	ns      = "default"
	timeout = 20 * time.Second
	poll    = 100 * time.Millisecond
)

var nameSeq int

func uniqueName(prefix string) string {
	nameSeq++
	return fmt.Sprintf("%s-%d", prefix, nameSeq)
}

func newCluster(name string, replicas int32) *sutrav1.SutraCluster {
	return &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       sutrav1.SutraClusterSpec{Image: "sutra/storage:1.0", Replicas: ptr.To(replicas)},
	}
}

func key(name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }

func getPod(name string) func(Gomega) *corev1.Pod {
	return func(g Gomega) *corev1.Pod {
		p := &corev1.Pod{}
		g.Expect(k8sClient.Get(ctx, key(name), p)).To(Succeed())
		return p
	}
}

func envOf(p *corev1.Pod) map[string]string {
	m := map[string]string{}
	for _, e := range p.Spec.Containers[0].Env {
		if e.ValueFrom != nil {
			m[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
			continue
		}
		m[e.Name] = e.Value
	}
	return m
}

// podNames lists the cluster's pods by name.
func podNames(g Gomega, cluster string) []string {
	list := &corev1.PodList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{"storage.sutra.io/cluster": cluster})).To(Succeed())
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	return names
}

func expectOwnedBy(obj client.Object, c *sutrav1.SutraCluster) {
	GinkgoHelper()
	refs := obj.GetOwnerReferences()
	Expect(refs).To(HaveLen(1), "%T %s owner references", obj, obj.GetName())
	Expect(refs[0].UID).To(Equal(c.UID))
	Expect(refs[0].Kind).To(Equal("SutraCluster"))
	Expect(refs[0].Controller).To(HaveValue(BeTrue()))
	Expect(refs[0].BlockOwnerDeletion).To(HaveValue(BeTrue()))
}

var _ = Describe("SutraCluster children", func() {
	It("creates every child with owner references, env and selectors", func() {
		c := newCluster(uniqueName("create"), 2)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name

		// Defaults from the CRD schema.
		Expect(k8sClient.Get(ctx, key(n), c)).To(Succeed())
		Expect(c.Spec.Ports.GRPC).To(Equal(int32(50051)))
		Expect(c.Spec.Storage.Size.String()).To(Equal("1Gi"))
		Expect(c.Spec.Replication.LagThresholdMs).To(Equal(int64(1000)))
		Expect(c.Spec.PVCRetentionPolicy.WhenScaled).To(Equal(sutrav1.PVCRetain))
		Expect(c.Spec.StatusPollInterval.Duration).To(Equal(10 * time.Second))
		Expect(c.Spec.ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
		Expect(c.Spec.FailoverDelay.Duration).To(Equal(5 * time.Second))
		Expect(c.Spec.LeaderUpdateMethod).To(Equal(sutrav1.LeaderUpdateSwitchover))

		for _, in := range []string{n + "-1", n + "-2", n + "-3"} {
			Eventually(getPod(in)).WithTimeout(timeout).WithPolling(poll).Should(Not(BeNil()))
			pvc := &corev1.PersistentVolumeClaim{}
			Expect(k8sClient.Get(ctx, key("data-"+in), pvc)).To(Succeed())
			Expect(pvc.Labels).To(HaveKeyWithValue("storage.sutra.io/instance", in))
			Expect(pvc.OwnerReferences).To(BeEmpty(), "whenDeleted Retain: the claim outlives the cluster")
		}
		l, r := getPod(n+"-1")(Default), getPod(n+"-2")(Default)
		expectOwnedBy(l, c)
		expectOwnedBy(r, c)
		Expect(l.Labels).To(HaveKeyWithValue("storage.sutra.io/role", "leader"))
		Expect(r.Labels).To(HaveKeyWithValue("storage.sutra.io/role", "replica"))
		Expect(l.Annotations).NotTo(HaveKey("storage.sutra.io/leader"))
		Expect(r.Annotations).To(HaveKeyWithValue("storage.sutra.io/leader", fmt.Sprintf("%s-1.%s-peers.%s.svc:50051", n, n, ns)))
		Expect(l.Spec.Hostname).To(Equal(n + "-1"))
		Expect(l.Spec.Subdomain).To(Equal(n + "-peers"))
		Expect(l.Spec).To(Equal(func() corev1.PodSpec {
			s := r.Spec.DeepCopy()
			s.Hostname, s.Volumes[0].PersistentVolumeClaim.ClaimName = l.Spec.Hostname, "data-"+n+"-1"
			s.Volumes[1].Projected.Sources[1].Secret.Name = n + "-1-tls"
			return *s
		}()), "leader and replica pods differ only in name, labels, annotations and their claim and certificate")

		env := envOf(r)
		Expect(env).To(HaveKeyWithValue("SUTRA_NODE_ROLE", "fieldRef:metadata.labels['storage.sutra.io/role']"))
		Expect(env).To(HaveKeyWithValue("SUTRA_LEADER", "fieldRef:metadata.annotations['storage.sutra.io/leader']"))
		Expect(env).To(HaveKeyWithValue("SUTRA_REPLICAS_FILE", "/etc/sutra/replicas"))
		Expect(env).To(HaveKeyWithValue("SUTRA_CLUSTER_ID", ns+"."+n))
		Expect(env).To(HaveKeyWithValue("SUTRA_NODE_ID", "fieldRef:metadata.name"))
		Expect(env).To(HaveKeyWithValue("SUTRA_ADVERTISE_ADDRESS", fmt.Sprintf("$(SUTRA_NODE_ID).%s-peers.%s.svc:50051", n, ns)))
		Expect(l.Spec.Containers[0].ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(l.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.IntValue()).To(Equal(9090))

		for _, tc := range []struct {
			name, role string
			headless   bool
		}{{n + "-peers", "", true}, {n + "-rw", "leader", false}, {n + "-ro", "replica", false}, {n + "-r", "", false},
			{n + "-leader", "leader", false}, {n + "-replicas", "replica", false}} {
			svc := &corev1.Service{}
			Eventually(func() error { return k8sClient.Get(ctx, key(tc.name), svc) }).WithTimeout(timeout).Should(Succeed())
			expectOwnedBy(svc, c)
			Expect(svc.Spec.Selector["storage.sutra.io/role"]).To(Equal(tc.role), tc.name)
			Expect(svc.Spec.Selector).To(HaveKeyWithValue("storage.sutra.io/cluster", n))
			if tc.headless {
				Expect(svc.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone), tc.name)
			} else {
				Expect(svc.Spec.ClusterIP).NotTo(Equal(corev1.ClusterIPNone), tc.name)
			}
			Expect(svc.Spec.PublishNotReadyAddresses).To(Equal(tc.headless), tc.name)
		}

		for _, tc := range []struct{ name, role string }{{n, "replica"}, {n + "-leader", "leader"}} {
			pdb := &policyv1.PodDisruptionBudget{}
			Eventually(func() error { return k8sClient.Get(ctx, key(tc.name), pdb) }).WithTimeout(timeout).Should(Succeed())
			expectOwnedBy(pdb, c)
			Expect(pdb.Spec.Selector.MatchLabels).To(HaveKeyWithValue("storage.sutra.io/role", tc.role))
		}

		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key(n+"-topology"), cm)).To(Succeed())
		expectOwnedBy(cm, c)
		Expect(cm.Data["replicas"]).To(Equal(fmt.Sprintf("%[1]s-1.%[1]s-peers.default.svc:50051,%[1]s-2.%[1]s-peers.default.svc:50051,%[1]s-3.%[1]s-peers.default.svc:50051", n)))

		// Status without a reachable leader: LeaderUnreachable, no error storm,
		// selector for the scale subresource.
		Eventually(func(g Gomega) {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.CurrentLeader).To(Equal(n + "-1"))
			g.Expect(got.Status.TargetLeader).To(Equal(n + "-1"))
			g.Expect(got.Status.Selector).To(Equal("app.kubernetes.io/name=sutra,storage.sutra.io/cluster=" + n + ",storage.sutra.io/role=replica"))
			g.Expect(got.Status.Phase).To(Equal(sutrav1.PhaseCreating))
			cond := findCondition(got, sutrav1.ConditionReplicationHealthy)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(cond.Reason).To(Equal(sutrav1.ReasonLeaderUnreachable))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// A deleted pod is made again, in its role.
		Expect(k8sClient.Delete(ctx, l)).To(Succeed())
		Eventually(func(g Gomega) {
			p := getPod(n + "-1")(g)
			g.Expect(p.UID).NotTo(Equal(l.UID))
			g.Expect(p.Labels).To(HaveKeyWithValue("storage.sutra.io/role", "leader"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// Deletion: envtest has no garbage collector; the owner references
		// checked above (controller, blockOwnerDeletion) are what lets the
		// real one remove the children.
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(n), &sutrav1.SutraCluster{}))
		}).WithTimeout(timeout).Should(BeTrue())
	})

	It("gives every node the synchronous setting and shows it in status", func() {
		c := newCluster(uniqueName("sync"), 2)
		c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 1}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name
		Expect(k8sClient.Get(ctx, key(n), c)).To(Succeed())
		Expect(c.Spec.Replication.Synchronous.DataDurability).To(Equal(sutrav1.DataDurabilityRequired), "schema default")

		for _, pod := range []string{n + "-1", n + "-2"} {
			Eventually(getPod(pod)).WithTimeout(timeout).WithPolling(poll).Should(Not(BeNil()))
			env := envOf(getPod(pod)(Default))
			Expect(env).To(HaveKeyWithValue("SUTRA_SYNC_REPLICAS", "1"), pod)
			Expect(env).To(HaveKeyWithValue("SUTRA_SYNC_MODE", "required"), pod)
		}
		Eventually(func(g Gomega) {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			g.Expect(got.Status.Synchronous).To(HaveValue(Equal(sutrav1.SynchronousStatus{
				Replicas: 1, DataDurability: sutrav1.DataDurabilityRequired})))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// A change of the setting makes every pod out of date. Replicas
		// that do not serve (no kubelet here) are made again at once with
		// the new setting; the leader waits for a whole cluster.
		leader := getPod(n + "-1")(Default)
		updateCluster(n, func(c *sutrav1.SutraCluster) {
			c.Spec.Replication.Synchronous.DataDurability = sutrav1.DataDurabilityPreferred
		})
		Eventually(func(g Gomega) {
			for _, pod := range []string{n + "-2", n + "-3"} {
				g.Expect(envOf(getPod(pod)(g))).To(HaveKeyWithValue("SUTRA_SYNC_MODE", "preferred"), pod)
			}
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			g.Expect(got.Status.CurrentLeader).To(Equal(n + "-1"))
			g.Expect(got.Status.Instances).To(HaveLen(3))
			for _, in := range got.Status.Instances {
				g.Expect(in.UpToDate).To(Equal(in.Name != n+"-1"), in.Name)
			}
			cond := findCondition(got, sutrav1.ConditionProgressing)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(sutrav1.ReasonRollingOut))
			g.Expect(cond.Message).To(ContainSubstring(n + "-1 to update"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		Expect(getPod(n+"-1")(Default).UID).To(Equal(leader.UID), "the leader's pod is not touched")
	})

	It("scales 2 -> 3 -> 1 without touching the leader's pod", func() {
		c := newCluster(uniqueName("scale"), 2)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name
		Eventually(getPod(n + "-3")).WithTimeout(timeout).Should(Not(BeNil()))
		leaderBefore := getPod(n + "-1")(Default)

		topology := func(g Gomega) string {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(n+"-topology"), cm)).To(Succeed())
			return cm.Data["replicas"]
		}

		// 2 -> 3 through the scale subresource, as `kubectl scale` does.
		Eventually(func(g Gomega) {
			scale := &autoscalingv1.Scale{}
			g.Expect(k8sClient.SubResource("scale").Get(ctx, c, scale)).To(Succeed())
			g.Expect(scale.Spec.Replicas).To(Equal(int32(2)))
			scale.Spec.Replicas = 3
			g.Expect(k8sClient.SubResource("scale").Update(ctx, c, client.WithSubResourceBody(scale))).To(Succeed())
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		Eventually(func(g Gomega) []string { return podNames(g, n) }).WithTimeout(timeout).Should(ConsistOf(n+"-1", n+"-2", n+"-3", n+"-4"))
		Eventually(topology).WithTimeout(timeout).Should(HaveSuffix(fmt.Sprintf("%[1]s-4.%[1]s-peers.default.svc:50051", n)))
		Expect(strings.Split(topology(Default), ",")).To(HaveLen(4))

		// 3 -> 1 by editing the spec: the newest replicas go, their claims
		// are kept (whenScaled Retain) but are no instances any more.
		updateCluster(n, func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](1) })
		Eventually(func(g Gomega) []string { return podNames(g, n) }).WithTimeout(timeout).Should(ConsistOf(n+"-1", n+"-2"))
		Eventually(topology).WithTimeout(timeout).Should(Equal(fmt.Sprintf("%[1]s-1.%[1]s-peers.default.svc:50051,%[1]s-2.%[1]s-peers.default.svc:50051", n)))
		Eventually(func(g Gomega) {
			pvc := &corev1.PersistentVolumeClaim{}
			g.Expect(k8sClient.Get(ctx, key("data-"+n+"-4"), pvc)).To(Succeed())
			g.Expect(pvc.Labels).NotTo(HaveKey("storage.sutra.io/instance"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// The scale subresource reads back the selector and status.
		Eventually(func(g Gomega) {
			s := &autoscalingv1.Scale{}
			g.Expect(k8sClient.SubResource("scale").Get(ctx, c, s)).To(Succeed())
			g.Expect(s.Spec.Replicas).To(Equal(int32(1)))
			g.Expect(s.Status.Selector).To(ContainSubstring("storage.sutra.io/role=replica"))
		}).WithTimeout(timeout).Should(Succeed())

		Eventually(func(g Gomega) []string {
			list := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			var notes []string
			for _, e := range list.Items {
				if e.Regarding.Name == n && e.Reason == sutrav1.EventScaled {
					notes = append(notes, e.Note)
				}
			}
			return notes
		}).WithTimeout(timeout).WithPolling(poll).Should(ContainElements(
			"Scaled from 3 to 4 instances", "Scaled from 4 to 2 instances"))

		leaderAfter := getPod(n + "-1")(Default)
		Expect(leaderAfter.UID).To(Equal(leaderBefore.UID), "scaling must not restart the leader")
		Expect(leaderAfter.Labels).To(Equal(leaderBefore.Labels))
	})

	It("expands, never replaces, volumes on a larger size", func() {
		c := newCluster(uniqueName("image"), 1)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name
		Eventually(getPod(n + "-2")).WithTimeout(timeout).Should(Not(BeNil()))

		c = updateCluster(n, func(c *sutrav1.SutraCluster) {
			c.Spec.Image = "sutra/storage:2.0"
			c.Spec.Storage.Size = resource.MustParse("2Gi")
		})
		Eventually(func(g Gomega) int64 {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			return got.Status.ObservedGeneration
		}).WithTimeout(timeout).Should(Equal(c.Generation), "the reconcile with the larger size must not fail")
	})
})

var _ = Describe("SutraCluster validation", func() {
	It("accepts the sample in config/samples", func() {
		b, err := os.ReadFile(filepath.Join("..", "config", "samples", "storage_v1alpha1_sutracluster.yaml"))
		Expect(err).NotTo(HaveOccurred())
		sample := &sutrav1.SutraCluster{}
		Expect(yaml.UnmarshalStrict(b, sample)).To(Succeed())
		sample.Namespace = ns
		Expect(k8sClient.Create(ctx, sample)).To(Succeed())
		Expect(k8sClient.Delete(ctx, sample)).To(Succeed())
	})

	expectRejected := func(obj client.Object, message string) {
		GinkgoHelper()
		err := k8sClient.Create(ctx, obj)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(message))
	}

	It("rejects negative and too many replicas", func() {
		expectRejected(newCluster(uniqueName("neg"), -1), "replicas must not be negative")
		expectRejected(newCluster(uniqueName("many"), 99), "replicas must be at most 15")
	})

	It("rejects bad quantities and durations", func() {
		for _, tc := range []struct {
			path    []string
			value   any
			message string
		}{
			{[]string{"spec", "storage", "size"}, "10XB", "storage.size must be a positive quantity"},
			{[]string{"spec", "storage", "size"}, "-1Gi", "storage.size must be a positive quantity"},
			{[]string{"spec", "replication", "retentionBytes"}, "lots", "replication.retentionBytes must be a positive quantity"},
			{[]string{"spec", "statusPollInterval"}, "100ms", "statusPollInterval must be a duration of at least 1s"},
			{[]string{"spec", "replication", "heartbeatIntervalMs"}, int64(5000), "heartbeatIntervalMs must be below replication.lagThresholdMs"},
			{[]string{"spec", "ports", "metrics"}, int64(50051), "ports.grpc and ports.metrics must differ"},
			{[]string{"spec", "image"}, "", "spec.image"},
			{[]string{"spec", "tls", "duration"}, "30m", "tls.duration must be a duration of at least 1h"},
			{[]string{"spec", "tls", "mode"}, "Strict", "spec.tls.mode"},
		} {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "storage.sutra.io/v1alpha1",
				"kind":       "SutraCluster",
				"metadata":   map[string]any{"name": uniqueName("bad"), "namespace": ns},
				"spec":       map[string]any{"image": "sutra/storage:1.0"},
			}}
			Expect(unstructured.SetNestedField(u.Object, tc.value, tc.path...)).To(Succeed())
			expectRejected(u, tc.message)
		}
	})

	It("refuses more synchronous replicas than spec.replicas, also through the scale subresource", func() {
		const message = "replication.synchronous.replicas must be at most spec.replicas"
		c := newCluster(uniqueName("sync"), 1)
		c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 2}
		expectRejected(c, message)

		for _, tc := range []struct {
			synchronous map[string]any
			message     string
		}{
			{map[string]any{"replicas": int64(3)}, message}, // spec.replicas defaults to 2
			{map[string]any{"replicas": int64(0)}, "spec.replication.synchronous.replicas"},
			{map[string]any{"replicas": int64(1), "dataDurability": "eventually"}, `Unsupported value: "eventually"`},
		} {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "storage.sutra.io/v1alpha1",
				"kind":       "SutraCluster",
				"metadata":   map[string]any{"name": uniqueName("badsync"), "namespace": ns},
				"spec": map[string]any{"image": "sutra/storage:1.0",
					"replication": map[string]any{"synchronous": tc.synchronous}},
			}}
			expectRejected(u, tc.message)
		}

		ok := newCluster(uniqueName("sync"), 2)
		ok.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 2}
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		var err error
		for {
			scale := &autoscalingv1.Scale{}
			Expect(k8sClient.SubResource("scale").Get(ctx, ok, scale)).To(Succeed())
			scale.Spec.Replicas = 1
			err = k8sClient.SubResource("scale").Update(ctx, ok, client.WithSubResourceBody(scale))
			if !apierrors.IsConflict(err) {
				break
			}
		}
		Expect(err).To(MatchError(ContainSubstring(message)))
		Expect(k8sClient.Delete(ctx, ok)).To(Succeed())
	})

	It("keeps the storage class immutable and the size from shrinking", func() {
		c := newCluster(uniqueName("storage"), 1)
		c.Spec.Storage = sutrav1.StorageSpec{Size: resource.MustParse("2Gi"), StorageClassName: ptr.To("standard")}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		update := func(mut func(*sutrav1.SutraCluster)) error {
			for {
				got := &sutrav1.SutraCluster{}
				Expect(k8sClient.Get(ctx, key(c.Name), got)).To(Succeed())
				mut(got)
				if err := k8sClient.Update(ctx, got); !apierrors.IsConflict(err) {
					return err
				}
			}
		}
		err := update(func(c *sutrav1.SutraCluster) { c.Spec.Storage.StorageClassName = ptr.To("fast") })
		Expect(err).To(MatchError(ContainSubstring("storage.storageClassName is immutable")))
		err = update(func(c *sutrav1.SutraCluster) { c.Spec.Storage.StorageClassName = nil })
		Expect(err).To(MatchError(ContainSubstring("storage.storageClassName is immutable")))
		err = update(func(c *sutrav1.SutraCluster) { c.Spec.Storage.Size = resource.MustParse("1Gi") })
		Expect(err).To(MatchError(ContainSubstring("storage.size may not shrink")))
		Expect(update(func(c *sutrav1.SutraCluster) { c.Spec.Storage.Size = resource.MustParse("3Gi") })).To(Succeed())

		// The scale subresource is validated like the spec.
		for {
			scale := &autoscalingv1.Scale{}
			Expect(k8sClient.SubResource("scale").Get(ctx, c, scale)).To(Succeed())
			scale.Spec.Replicas = 99
			err = k8sClient.SubResource("scale").Update(ctx, c, client.WithSubResourceBody(scale))
			if !apierrors.IsConflict(err) {
				break
			}
		}
		Expect(err).To(MatchError(ContainSubstring("replicas must be at most 15")))
	})
})

// updateCluster applies mut to the latest version of the cluster, retrying
// when the operator's status writes make the update conflict.
func updateCluster(name string, mut func(*sutrav1.SutraCluster)) *sutrav1.SutraCluster {
	GinkgoHelper()
	got := &sutrav1.SutraCluster{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key(name), got)).To(Succeed())
		mut(got)
		g.Expect(k8sClient.Update(ctx, got)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return got
}

func findCondition(c *sutrav1.SutraCluster, typ string) *metav1.Condition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == typ {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}
