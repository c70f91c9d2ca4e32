package resources

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// PeersService builds NAME-peers: headless, over every node, publishing
// not-ready addresses so a replica can reach the leader (and the leader its
// replicas) before readiness, e.g. while catching up.
func PeersService(c *sutrav1.SutraCluster) *corev1.Service {
	s := service(c, PeersServiceName(c), SelectorLabels(c), nil)
	s.Spec.ClusterIP = corev1.ClusterIPNone
	s.Spec.PublishNotReadyAddresses = true
	s.Spec.Ports = append(s.Spec.Ports, servicePort(MetricsPortName, MetricsPort(c)))
	return s
}

// ReadWriteService builds NAME-rw: the write endpoint, selecting only the
// pod labelled role=leader. The operator moves the label on a change of
// leader, so the Service follows the leader.
func ReadWriteService(c *sutrav1.SutraCluster) *corev1.Service {
	return service(c, ReadWriteServiceName(c), RoleSelectorLabels(c, RoleLeader), map[string]string{LabelRole: RoleLeader})
}

// ReadOnlyService builds NAME-ro: the read endpoint over the ready replicas.
func ReadOnlyService(c *sutrav1.SutraCluster) *corev1.Service {
	return service(c, ReadOnlyServiceName(c), RoleSelectorLabels(c, RoleReplica), map[string]string{LabelRole: RoleReplica})
}

// ReadService builds NAME-r: reads from any ready instance.
func ReadService(c *sutrav1.SutraCluster) *corev1.Service {
	return service(c, ReadServiceName(c), SelectorLabels(c), nil)
}

// LeaderService builds NAME-leader, NAME-rw under its earlier name.
func LeaderService(c *sutrav1.SutraCluster) *corev1.Service {
	return service(c, LeaderServiceName(c), RoleSelectorLabels(c, RoleLeader), map[string]string{LabelRole: RoleLeader})
}

// ReplicasService builds NAME-replicas, NAME-ro under its earlier name.
func ReplicasService(c *sutrav1.SutraCluster) *corev1.Service {
	return service(c, ReplicasServiceName(c), RoleSelectorLabels(c, RoleReplica), map[string]string{LabelRole: RoleReplica})
}

// Services are every Service of the cluster, peers first.
func Services(c *sutrav1.SutraCluster) []*corev1.Service {
	return []*corev1.Service{PeersService(c), ReadWriteService(c), ReadOnlyService(c), ReadService(c), LeaderService(c), ReplicasService(c)}
}

func service(c *sutrav1.SutraCluster, name string, selector, extra map[string]string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(c, name, extra),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector,
			Ports:    []corev1.ServicePort{servicePort(GRPCPortName, GRPCPort(c))},
		},
	}
}

func servicePort(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{
		Name:        name,
		Port:        port,
		TargetPort:  intstr.FromString(name),
		Protocol:    corev1.ProtocolTCP,
		AppProtocol: appProtocol(name),
	}
}

func appProtocol(portName string) *string {
	p := "http"
	if portName == GRPCPortName {
		p = "kubernetes.io/h2c"
	}
	return &p
}
