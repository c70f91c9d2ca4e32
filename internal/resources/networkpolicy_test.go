package resources

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

var testOperator = Operator{
	Namespace: "sutra-system",
	PodLabels: map[string]string{"app.kubernetes.io/name": "sutra-operator", "app.kubernetes.io/component": "manager"},
}

func port(p int32) networkingv1.NetworkPolicyPort {
	tcp := corev1.ProtocolTCP
	n := intstr.FromInt32(p)
	return networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &n}
}

func TestNetworkPolicy(t *testing.T) {
	ownPods := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"app.kubernetes.io/name": "sutra", "storage.sutra.io/cluster": "demo"}}}
	operatorPods := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "sutra-system"}},
		PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			"app.kubernetes.io/name": "sutra-operator", "app.kubernetes.io/component": "manager"}},
	}
	wholeNamespace := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}}
	apps := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "apps"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"role": "api"}},
	}
	office := networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.20.0.0/16"}}

	tests := []struct {
		name        string
		mut         func(*sutrav1.SutraCluster)
		op          Operator
		wantCluster []networkingv1.NetworkPolicyPeer
		wantClients []networkingv1.NetworkPolicyPeer
		grpc, metr  int32
	}{
		{
			name: "defaults: clients are the cluster's namespace", op: testOperator,
			wantCluster: []networkingv1.NetworkPolicyPeer{ownPods, operatorPods},
			wantClients: []networkingv1.NetworkPolicyPeer{wholeNamespace},
			grpc:        50051, metr: 9090,
		},
		{
			name: "an empty clientFrom is the default",
			mut:  func(c *sutrav1.SutraCluster) { c.Spec.Network.ClientFrom = []networkingv1.NetworkPolicyPeer{} },
			op:   testOperator, wantCluster: []networkingv1.NetworkPolicyPeer{ownPods, operatorPods},
			wantClients: []networkingv1.NetworkPolicyPeer{wholeNamespace},
			grpc:        50051, metr: 9090,
		},
		{
			name: "clientFrom replaces the default",
			mut: func(c *sutrav1.SutraCluster) {
				c.Spec.Network.ClientFrom = []networkingv1.NetworkPolicyPeer{apps, office}
			},
			op: testOperator, wantCluster: []networkingv1.NetworkPolicyPeer{ownPods, operatorPods},
			wantClients: []networkingv1.NetworkPolicyPeer{apps, office},
			grpc:        50051, metr: 9090,
		},
		{
			name: "ports follow spec.ports",
			mut:  func(c *sutrav1.SutraCluster) { c.Spec.Ports = sutrav1.PortsSpec{GRPC: 7000, Metrics: 7001} },
			op:   testOperator, wantCluster: []networkingv1.NetworkPolicyPeer{ownPods, operatorPods},
			wantClients: []networkingv1.NetworkPolicyPeer{wholeNamespace},
			grpc:        7000, metr: 7001,
		},
		{
			name: "operator without pod labels: every pod of its namespace",
			op:   Operator{Namespace: "ops"},
			wantCluster: []networkingv1.NetworkPolicyPeer{ownPods, {
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ops"}},
				PodSelector:       &metav1.LabelSelector{},
			}},
			wantClients: []networkingv1.NetworkPolicyPeer{wholeNamespace},
			grpc:        50051, metr: 9090,
		},
		{
			name:        "operator outside the cluster: no operator peer",
			op:          Operator{PodLabels: testOperator.PodLabels},
			wantCluster: []networkingv1.NetworkPolicyPeer{ownPods},
			wantClients: []networkingv1.NetworkPolicyPeer{wholeNamespace},
			grpc:        50051, metr: 9090,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster()
			if tt.mut != nil {
				tt.mut(c)
			}
			np := NetworkPolicy(c, tt.op)

			if np.APIVersion != "networking.k8s.io/v1" || np.Kind != "NetworkPolicy" {
				t.Errorf("TypeMeta = %v", np.TypeMeta)
			}
			if np.Name != "demo" || np.Namespace != "prod" {
				t.Errorf("name = %s/%s, want prod/demo", np.Namespace, np.Name)
			}
			if !reflect.DeepEqual(np.Labels, ClusterLabels(c)) {
				t.Errorf("labels = %v, want %v", np.Labels, ClusterLabels(c))
			}
			if len(np.OwnerReferences) != 1 || np.OwnerReferences[0].UID != "uid-1" || !*np.OwnerReferences[0].Controller {
				t.Errorf("owner references = %+v, want the cluster as controller", np.OwnerReferences)
			}
			if want := (metav1.LabelSelector{MatchLabels: SelectorLabels(c)}); !reflect.DeepEqual(np.Spec.PodSelector, want) {
				t.Errorf("podSelector = %v, want %v", np.Spec.PodSelector, want)
			}
			if want := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}; !reflect.DeepEqual(np.Spec.PolicyTypes, want) {
				t.Errorf("policyTypes = %v, want %v (egress must stay open)", np.Spec.PolicyTypes, want)
			}
			if len(np.Spec.Egress) != 0 {
				t.Errorf("egress rules = %v, want none", np.Spec.Egress)
			}
			want := []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{port(tt.grpc)}, From: tt.wantCluster},
				{Ports: []networkingv1.NetworkPolicyPort{port(tt.grpc)}, From: tt.wantClients},
				{Ports: []networkingv1.NetworkPolicyPort{port(tt.metr)}},
			}
			if !reflect.DeepEqual(np.Spec.Ingress, want) {
				t.Errorf("ingress =\n%+v\nwant\n%+v", np.Spec.Ingress, want)
			}
		})
	}
}

// The policy's peers must not alias the cluster's spec or the operator's
// labels: the controller applies the object, which may rewrite it.
func TestNetworkPolicyCopies(t *testing.T) {
	c := cluster(func(c *sutrav1.SutraCluster) {
		c.Spec.Network.ClientFrom = []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "api"}}}}
	})
	op := Operator{Namespace: "ops", PodLabels: map[string]string{"app": "op"}}
	np := NetworkPolicy(c, op)
	np.Spec.Ingress[1].From[0].PodSelector.MatchLabels["role"] = "changed"
	np.Spec.Ingress[0].From[1].PodSelector.MatchLabels["app"] = "changed"
	if got := c.Spec.Network.ClientFrom[0].PodSelector.MatchLabels["role"]; got != "api" {
		t.Errorf("spec.network.clientFrom changed through the policy: role=%q", got)
	}
	if got := op.PodLabels["app"]; got != "op" {
		t.Errorf("operator labels changed through the policy: app=%q", got)
	}
}

func TestNetworkPolicyEnabled(t *testing.T) {
	for _, tt := range []struct {
		mode sutrav1.NetworkPolicyMode
		want bool
	}{
		{"", true},
		{sutrav1.NetworkPolicyEnabled, true},
		{sutrav1.NetworkPolicyDisabled, false},
	} {
		c := cluster(func(c *sutrav1.SutraCluster) { c.Spec.Network.Policy = tt.mode })
		if got := NetworkPolicyEnabled(c); got != tt.want {
			t.Errorf("policy %q: enabled = %v, want %v", tt.mode, got, tt.want)
		}
	}
}

func TestNetworkPolicyName(t *testing.T) {
	if got := NetworkPolicyName(cluster()); got != "demo" {
		t.Errorf("NetworkPolicyName = %q, want demo", got)
	}
}
