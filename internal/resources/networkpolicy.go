package resources

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// LabelNamespaceName is the label the API server sets on every namespace
// to its own name; a namespaceSelector on it selects one namespace.
const LabelNamespaceName = "kubernetes.io/metadata.name"

// Operator is where the operator's own pods run, so a cluster's
// NetworkPolicy can admit the operator's admin and status calls. Namespace
// empty (an operator running outside the cluster) leaves the operator out
// of the policy; PodLabels empty admits every pod of Namespace.
type Operator struct {
	Namespace string
	PodLabels map[string]string
}

// NetworkPolicyName is NAME.
func NetworkPolicyName(c *sutrav1.SutraCluster) string { return c.Name }

// NetworkPolicyEnabled reports whether c should have its NetworkPolicy:
// spec.network.policy is Enabled or unset.
func NetworkPolicyEnabled(c *sutrav1.SutraCluster) bool {
	return c.Spec.Network.Policy != sutrav1.NetworkPolicyDisabled
}

// ClientPeers is spec.network.clientFrom or, when it is empty, every pod in
// the cluster's namespace (podSelector {}). The result is a copy.
func ClientPeers(c *sutrav1.SutraCluster) []networkingv1.NetworkPolicyPeer {
	if len(c.Spec.Network.ClientFrom) == 0 {
		return []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
	}
	out := make([]networkingv1.NetworkPolicyPeer, len(c.Spec.Network.ClientFrom))
	for i := range c.Spec.Network.ClientFrom {
		c.Spec.Network.ClientFrom[i].DeepCopyInto(&out[i])
	}
	return out
}

// NetworkPolicy builds NAME, the cluster's ingress policy. It selects every
// storage pod of c (SelectorLabels) and, as policyTypes is Ingress only,
// leaves egress alone. Three rules, each naming one port by number:
//
//	gRPC port     from the cluster's own pods (replication, heartbeats)
//	              and from the operator's pods in op.Namespace (admin,
//	              status); the operator rule is left out when op.Namespace
//	              is empty
//	gRPC port     from ClientPeers(c): the clients
//	metrics port  from anywhere: Prometheus scrapes it and the kubelet's
//	              HTTP probes (/healthz, /readyz) use it
//
// Client, replication and admin calls share the gRPC port, so this policy
// cannot admit clients without admitting them to the port the nodes
// replicate on: it bounds who can connect at all, and the node decides
// which calls each connection may make from its mTLS identity (readers,
// writers, nodes, admin). A separate replication port would let the policy
// keep clients off it, at the cost of a second listener, certificate
// setup and Service port per node; identities already enforce the split.
//
// The caller applies it only when NetworkPolicyEnabled(c).
func NetworkPolicy(c *sutrav1.SutraCluster, op Operator) *networkingv1.NetworkPolicy {
	cluster := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(c)}}}
	if op.Namespace != "" {
		cluster = append(cluster, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelNamespaceName: op.Namespace}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: copyMap(op.PodLabels)},
		})
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(c, NetworkPolicyName(c), nil),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{tcpPort(GRPCPort(c))}, From: cluster},
				{Ports: []networkingv1.NetworkPolicyPort{tcpPort(GRPCPort(c))}, From: ClientPeers(c)},
				{Ports: []networkingv1.NetworkPolicyPort{tcpPort(MetricsPort(c))}},
			},
		},
	}
}

func tcpPort(port int32) networkingv1.NetworkPolicyPort {
	protocol := corev1.ProtocolTCP
	p := intstr.FromInt32(port)
	return networkingv1.NetworkPolicyPort{Protocol: &protocol, Port: &p}
}
