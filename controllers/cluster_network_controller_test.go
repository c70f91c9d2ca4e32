package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func getNetworkPolicy(name string) (*networkingv1.NetworkPolicy, error) {
	np := &networkingv1.NetworkPolicy{}
	return np, k8sClient.Get(ctx, key(name), np)
}

func tcp(port int32) networkingv1.NetworkPolicyPort {
	p := corev1.ProtocolTCP
	n := intstr.FromInt32(port)
	return networkingv1.NetworkPolicyPort{Protocol: &p, Port: &n}
}

var _ = Describe("SutraCluster NetworkPolicy", Ordered, func() {
	var name string
	ownPods := func() networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"app.kubernetes.io/name": "sutra", "storage.sutra.io/cluster": name}}}
	}
	operatorPods := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "sutra-system"}},
		PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			"app.kubernetes.io/name": "sutra-operator", "app.kubernetes.io/component": "manager"}},
	}

	It("gives a new cluster a policy it owns: gRPC from the cluster, the operator and its namespace, metrics from anywhere", func() {
		c := newCluster(uniqueName("netpol"), 1)
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		name = c.Name

		var np *networkingv1.NetworkPolicy
		Eventually(func() error {
			var err error
			np, err = getNetworkPolicy(name)
			return err
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		Expect(k8sClient.Get(ctx, key(name), c)).To(Succeed())
		Expect(c.Spec.Network.Policy).To(Equal(sutrav1.NetworkPolicyEnabled), "the API server defaults spec.network.policy")
		expectOwnedBy(np, c)
		Expect(np.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{
			"app.kubernetes.io/name": "sutra", "storage.sutra.io/cluster": name}))
		Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		Expect(np.Spec.Ingress).To(Equal([]networkingv1.NetworkPolicyIngressRule{
			{Ports: []networkingv1.NetworkPolicyPort{tcp(50051)}, From: []networkingv1.NetworkPolicyPeer{ownPods(), operatorPods}},
			{Ports: []networkingv1.NetworkPolicyPort{tcp(50051)}, From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
			{Ports: []networkingv1.NetworkPolicyPort{tcp(9090)}},
		}))

		// The policy selects the pods the operator makes.
		pod := getPod(name + "-1")
		Eventually(pod).WithTimeout(timeout).WithPolling(poll).Should(Not(BeNil()))
		for k, v := range np.Spec.PodSelector.MatchLabels {
			Expect(pod(Default).Labels).To(HaveKeyWithValue(k, v))
		}
	})

	It("follows spec.network.clientFrom, and restores a changed policy", func() {
		apps := networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "apps"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"role": "api"}},
		}
		updateCluster(name, func(c *sutrav1.SutraCluster) {
			c.Spec.Network.ClientFrom = []networkingv1.NetworkPolicyPeer{apps}
		})
		clients := func(g Gomega) []networkingv1.NetworkPolicyPeer {
			np, err := getNetworkPolicy(name)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(np.Spec.Ingress).To(HaveLen(3))
			g.Expect(np.Spec.Ingress[0].From).To(Equal([]networkingv1.NetworkPolicyPeer{ownPods(), operatorPods}))
			return np.Spec.Ingress[1].From
		}
		Eventually(clients).WithTimeout(timeout).WithPolling(poll).Should(Equal([]networkingv1.NetworkPolicyPeer{apps}))

		// A manual edit is undone: the policy is owned and watched.
		np, err := getNetworkPolicy(name)
		Expect(err).NotTo(HaveOccurred())
		np.Spec.Ingress[1].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
		Expect(k8sClient.Update(ctx, np)).To(Succeed())
		Eventually(clients).WithTimeout(timeout).WithPolling(poll).Should(Equal([]networkingv1.NetworkPolicyPeer{apps}))
	})

	It("deletes the policy when spec.network.policy is Disabled, and makes it again when Enabled", func() {
		updateCluster(name, func(c *sutrav1.SutraCluster) { c.Spec.Network.Policy = sutrav1.NetworkPolicyDisabled })
		Eventually(func() error {
			_, err := getNetworkPolicy(name)
			return err
		}).WithTimeout(timeout).WithPolling(poll).Should(Satisfy(apierrors.IsNotFound))
		// It stays deleted while the cluster reconciles every second.
		Consistently(func() error {
			_, err := getNetworkPolicy(name)
			return err
		}).WithTimeout(2 * time.Second).WithPolling(500 * time.Millisecond).Should(Satisfy(apierrors.IsNotFound))
		Expect(k8sClient.Get(ctx, key(name+"-1"), &corev1.Pod{})).To(Succeed(), "the pods are untouched")

		updateCluster(name, func(c *sutrav1.SutraCluster) { c.Spec.Network.Policy = sutrav1.NetworkPolicyEnabled })
		Eventually(func() error {
			_, err := getNetworkPolicy(name)
			return err
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})

	It("rejects a policy mode other than Enabled or Disabled", func() {
		c := newCluster(uniqueName("netpol-mode"), 0)
		c.Spec.Network.Policy = "Off"
		err := k8sClient.Create(ctx, c)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`spec.network.policy: Unsupported value: "Off"`))
	})

	It("leaves a policy of the same name that a Disabled cluster does not own", func() {
		c := newCluster(uniqueName("netpol-foreign"), 0)
		c.Spec.Network.Policy = sutrav1.NetworkPolicyDisabled
		c.Spec.StatusPollInterval = metav1.Duration{Duration: time.Second}
		foreign := &networkingv1.NetworkPolicy{
			// Labelled like the operator's objects, so the operator's cache sees it.
			ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "sutra-operator"}},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		Eventually(getPod(c.Name + "-1")).WithTimeout(timeout).WithPolling(poll).Should(Not(BeNil()))
		Consistently(func() error {
			_, err := getNetworkPolicy(c.Name)
			return err
		}).WithTimeout(2 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})
