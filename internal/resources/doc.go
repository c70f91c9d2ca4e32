// Package resources builds the Kubernetes objects a SutraCluster owns.
//
// Every builder is a pure function: a *v1alpha1.SutraCluster goes in (already
// defaulted by the API server; zero values fall back to the API defaults), a
// complete desired object comes out with TypeMeta, labels and a controller
// owner reference set. Builders use no client, no logger and no clock, so the
// controller can server-side apply their output as is and tests can compare it
// field by field.
//
// Objects of a cluster named NAME in namespace NS:
//
//	Pod         INSTANCE            one per instance (spec.replicas + 1): NAME-1, NAME-2, ...
//	PVC         data-INSTANCE       the instance's volume
//	Service     NAME-peers          headless, every instance, publishNotReadyAddresses
//	Service     NAME-rw             role=leader: writes (NAME-leader: the same, earlier name)
//	Service     NAME-ro             role=replica: reads (NAME-replicas: the same, earlier name)
//	Service     NAME-r              every ready instance: reads
//	PDB         NAME                role=replica, maxUnavailable 1
//	PDB         NAME-leader         role=leader, minAvailable 1 (only with replicas)
//	ConfigMap   NAME-topology       key "replicas": every instance's address
//	NetPolicy   NAME                ingress: gRPC from the cluster, the operator and
//	                                spec.network.clientFrom; metrics from anywhere
//
// Roles are labels, not names: the operator sets storage.sutra.io/role on
// each pod (leader or replica) and, on a replica, the storage.sutra.io/leader
// annotation; the pod spec is the same for every instance, so a change of
// leader restarts nothing. Instances adopted from clusters made before this
// layout keep their names (NAME-leader-0, NAME-replica-K) and claims.
//
// Instance addresses are INSTANCE.NAME-peers.NS.svc:GRPCPORT; node ids are
// instance names.
package resources
