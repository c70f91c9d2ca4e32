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
//	StatefulSet NAME-leader         1 pod, role=leader, volume claim template "data"
//	StatefulSet NAME-replica        spec.replicas pods, role=replica
//	Service     NAME-peers          headless, every node, publishNotReadyAddresses
//	Service     NAME-leader         role=leader: writes and the status endpoint
//	Service     NAME-replicas       role=replica: reads
//	PDB         NAME                every node, maxUnavailable 1
//	ConfigMap   NAME-topology       key "replicas": the replica addresses
//
// Node addresses are POD.NAME-peers.NS.svc:GRPCPORT; node ids are pod names.
package resources
