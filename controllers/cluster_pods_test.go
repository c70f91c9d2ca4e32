package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

var _ = Describe("SutraCluster leader pod", func() {
	It("is not Available once the leader pod is terminating", func() {
		n := uniqueName("terminating")
		c := newCluster(n, 1)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(getSTS(n + "-leader")).WithTimeout(timeout).Should(Not(BeNil()))
		markReady(n + "-leader")

		available := func(g Gomega) string {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			cond := findCondition(got, sutrav1.ConditionAvailable)
			g.Expect(cond).NotTo(BeNil())
			return cond.Reason
		}
		Eventually(available).WithTimeout(timeout).Should(Equal(sutrav1.ReasonLeaderReady))

		// envtest runs no StatefulSet controller or kubelet: make the pod,
		// with a finalizer so deleting it leaves it terminating.
		labels := resources.ClusterLabels(c)
		labels[resources.LabelRole] = resources.RoleLeader
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: n + "-leader-0", Namespace: ns, Labels: labels, Finalizers: []string{"example.com/hold"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "storage", Image: "sutra/storage:1.0"}}},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		DeferCleanup(func() {
			got := &corev1.Pod{}
			Expect(k8sClient.Get(ctx, key(pod.Name), got)).To(Succeed())
			got.Finalizers = nil
			Expect(k8sClient.Update(ctx, got)).To(Succeed())
		})

		// The StatefulSet still counts the pod ready; the pod says otherwise.
		Eventually(available).WithTimeout(timeout).Should(Equal(sutrav1.ReasonLeaderTerminating))
	})
})
