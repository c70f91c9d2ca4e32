package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

var _ = Describe("SutraCluster volume expansion", func() {
	It("reports a class that cannot expand once, in one condition, and lets the size go back", func() {
		n := uniqueName("noexpand")
		class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: n}, Provisioner: "example.com/fixed",
			AllowVolumeExpansion: ptr.To(false)}
		Expect(k8sClient.Create(ctx, class)).To(Succeed())
		c := newCluster(n, 1)
		c.Spec.Storage = sutrav1.StorageSpec{Size: resource.MustParse("1Gi"), StorageClassName: ptr.To(n)}
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		// The operator makes the claims itself.
		for _, in := range []string{n + "-1", n + "-2"} {
			Eventually(func() error {
				return k8sClient.Get(ctx, key("data-"+in), &corev1.PersistentVolumeClaim{})
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		}
		volumes := func(g Gomega) (*sutrav1.SutraCluster, *metav1.Condition) {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			cond := findCondition(got, sutrav1.ConditionVolumeExpansion)
			g.Expect(cond).NotTo(BeNil())
			return got, cond
		}
		Eventually(func(g Gomega) string {
			got, _ := volumes(g)
			g.Expect(got.Status.Storage).NotTo(BeNil())
			g.Expect(got.Status.Storage.PVCSize).NotTo(BeNil())
			return got.Status.Storage.PVCSize.String()
		}).WithTimeout(timeout).Should(Equal("1Gi"))

		updateCluster(n, func(c *sutrav1.SutraCluster) { c.Spec.Storage.Size = resource.MustParse("2Gi") })
		Eventually(func(g Gomega) {
			_, cond := volumes(g)
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(sutrav1.ReasonExpansionNotSupported))
			g.Expect(cond.Message).To(ContainSubstring(`StorageClass "` + n + `"`))
			g.Expect(cond.Message).To(ContainSubstring("data-" + n + "-1, data-" + n + "-2"))
		}).WithTimeout(timeout).Should(Succeed())

		failures := func() int {
			list := &eventsv1.EventList{}
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			count := 0
			for _, e := range list.Items {
				if e.Reason == sutrav1.EventVolumeExpansionFailed && e.Regarding.Name == n {
					count++
				}
			}
			return count
		}
		Eventually(failures).WithTimeout(timeout).Should(Equal(1))
		// Several polls later there is still one Warning, not one per poll and claim.
		Consistently(failures).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Equal(1))

		// Going back to the claims' size is allowed; below it is not.
		updateCluster(n, func(c *sutrav1.SutraCluster) { c.Spec.Storage.Size = resource.MustParse("1Gi") })
		Eventually(func(g Gomega) string {
			_, cond := volumes(g)
			return cond.Reason
		}).WithTimeout(timeout).Should(Equal(sutrav1.ReasonVolumesAtSize))
		got := &sutrav1.SutraCluster{}
		Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
		got.Spec.Storage.Size = resource.MustParse("500Mi")
		Expect(k8sClient.Update(ctx, got)).To(MatchError(ContainSubstring("storage.size may not shrink below the volumes' current size")))
	})
})
