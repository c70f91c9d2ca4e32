package controllers

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

func getPodMonitor(name string) (*unstructured.Unstructured, error) {
	pm := &unstructured.Unstructured{}
	pm.SetGroupVersionKind(resources.PodMonitorGVK)
	return pm, k8sClient.Get(ctx, key(name), pm)
}

func podMonitorEvents(g Gomega, name string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == sutrav1.EventPodMonitorUnavailable {
			out = append(out, e)
		}
	}
	return out
}

// The PodMonitor CRD is not part of config/crd: the specs start without it
// (as on a cluster without the Prometheus Operator), then install a minimal
// copy from testdata. It stays installed for the rest of the suite, which
// does not depend on it either way.
var _ = Describe("SutraCluster PodMonitor", Ordered, func() {
	var name string

	It("warns once and reconciles everything else when the PodMonitor kind is not served", func() {
		c := newCluster(uniqueName("podmon"), 1)
		c.Spec.Monitoring.EnablePodMonitor = true
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		name = c.Name

		Eventually(getPod(name + "-1")).WithTimeout(timeout).WithPolling(poll).Should(Not(BeNil()))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(name), &policyv1.PodDisruptionBudget{})).To(Succeed())
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(name), got)).To(Succeed())
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation), "a missing PodMonitor kind must not fail the reconcile")
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		Eventually(func(g Gomega) []eventsv1.Event {
			return podMonitorEvents(g, name)
		}).WithTimeout(timeout).WithPolling(poll).Should(HaveLen(1))
		e := podMonitorEvents(Default, name)[0]
		Expect(e.Type).To(Equal(corev1.EventTypeWarning))
		Expect(e.Note).To(ContainSubstring("monitoring.coreos.com/v1 PodMonitor"))

		// Reconciles go on every second; a second identical event would be
		// recorded as a series (count 2) at once.
		Consistently(func(g Gomega) {
			evs := podMonitorEvents(g, name)
			g.Expect(evs).To(HaveLen(1))
			g.Expect(evs[0].Series).To(BeNil(), "PodMonitorUnavailable must be told once")
		}).WithTimeout(4 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		_, err := getPodMonitor(name)
		Expect(err).To(HaveOccurred())
	})

	It("creates the PodMonitor once the kind is served, and restores a changed one", func() {
		_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join("testdata", "podmonitor-crd")},
			ErrorIfPathMissing: true,
		})
		Expect(err).NotTo(HaveOccurred())

		c := &sutrav1.SutraCluster{}
		Expect(k8sClient.Get(ctx, key(name), c)).To(Succeed())
		var pm *unstructured.Unstructured
		Eventually(func() error {
			var err error
			pm, err = getPodMonitor(name)
			return err
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		expectOwnedBy(pm, c)
		Expect(pm.GetLabels()).To(Equal(resources.ClusterLabels(c)))
		selector, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
		Expect(selector).To(Equal(map[string]string{
			"app.kubernetes.io/name":   "sutra",
			"storage.sutra.io/cluster": name,
		}))
		endpoints, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
		Expect(endpoints).To(HaveLen(1))
		Expect(endpoints[0]).To(HaveKeyWithValue("port", "metrics"))
		Expect(endpoints[0]).To(HaveKeyWithValue("path", "/metrics"))

		// The pods' metrics port is the one the PodMonitor names.
		pod := getPod(name + "-1")(Default)
		Expect(pod.Spec.Containers[0].Ports).To(ContainElement(
			HaveField("Name", "metrics")))

		// A manual change is undone on a later pass (PodMonitors are not
		// watched; the cluster requeues every second).
		Expect(unstructured.SetNestedSlice(pm.Object, []any{map[string]any{"port": "other"}}, "spec", "podMetricsEndpoints")).To(Succeed())
		Expect(k8sClient.Update(ctx, pm)).To(Succeed())
		Eventually(func(g Gomega) {
			got, err := getPodMonitor(name)
			g.Expect(err).NotTo(HaveOccurred())
			eps, _, _ := unstructured.NestedSlice(got.Object, "spec", "podMetricsEndpoints")
			g.Expect(eps).To(HaveLen(1))
			g.Expect(eps[0]).To(HaveKeyWithValue("port", "metrics"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})

	It("deletes its PodMonitor when enablePodMonitor is turned off", func() {
		updateCluster(name, func(c *sutrav1.SutraCluster) { c.Spec.Monitoring.EnablePodMonitor = false })
		Eventually(func() error {
			_, err := getPodMonitor(name)
			return err
		}).WithTimeout(timeout).WithPolling(poll).Should(Satisfy(apierrors.IsNotFound))
		// The pods are untouched.
		Expect(k8sClient.Get(ctx, key(name+"-1"), &corev1.Pod{})).To(Succeed())
	})

	It("leaves a PodMonitor of the same name that the cluster does not own", func() {
		c := newCluster(uniqueName("podmon-foreign"), 1)
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		foreign := &unstructured.Unstructured{}
		foreign.SetGroupVersionKind(resources.PodMonitorGVK)
		foreign.SetNamespace(ns)
		foreign.SetName(c.Name)
		foreign.Object["spec"] = map[string]any{"podMetricsEndpoints": []any{map[string]any{"port": "web"}}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		Eventually(getPod(c.Name + "-1")).WithTimeout(timeout).WithPolling(poll).Should(Not(BeNil()))
		Consistently(func() error {
			_, err := getPodMonitor(c.Name)
			return err
		}).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})
