package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

var _ = Describe("SutraCluster leader pod", func() {
	It("is not Available once the leader pod is terminating", func() {
		n := uniqueName("terminating")
		c := newCluster(n, 1)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(getPod(n + "-1")).WithTimeout(timeout).Should(Not(BeNil()))
		markReady(n+"-1", true)

		available := func(g Gomega) string {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			cond := findCondition(got, sutrav1.ConditionAvailable)
			g.Expect(cond).NotTo(BeNil())
			return cond.Reason
		}
		Eventually(available).WithTimeout(timeout).Should(Equal(sutrav1.ReasonLeaderReady))

		// envtest runs no kubelet: a finalizer keeps the deleted pod
		// terminating, ready as far as its conditions go.
		pod := getPod(n + "-1")(Default)
		pod.Finalizers = []string{"example.com/hold"}
		Expect(k8sClient.Update(ctx, pod)).To(Succeed())
		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		DeferCleanup(func() {
			got := &corev1.Pod{}
			Expect(k8sClient.Get(ctx, key(pod.Name), got)).To(Succeed())
			got.Finalizers = nil
			Expect(k8sClient.Update(ctx, got)).To(Succeed())
		})

		// The pod is still ready; its deletion makes the cluster unavailable.
		Eventually(available).WithTimeout(timeout).Should(Equal(sutrav1.ReasonLeaderTerminating))
	})
})
