// Package kubectlsutra implements `kubectl sutra` subcommands that read
// SutraCluster objects from the Kubernetes API (sutractl, installed as
// kubectl-sutra, wires them in). It only reads what the operator wrote into
// status; it never dials storage nodes.
package kubectlsutra

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// Status prints the SutraCluster namespace/name: a summary, the per-replica
// replication table, the pods (status.instances) and the conditions. The reader needs the
// storage.sutra.io/v1alpha1 types in its scheme.
func Status(ctx context.Context, c client.Reader, namespace, name string, out io.Writer) error {
	return status(ctx, c, namespace, name, out, time.Now())
}

func status(ctx context.Context, c client.Reader, namespace, name string, out io.Writer, now time.Time) error {
	sc := &sutrav1.SutraCluster{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sc); err != nil {
		return fmt.Errorf("get sutracluster %s/%s: %w", namespace, name, err)
	}
	st := sc.Status
	desired := sutrav1.DefaultReplicas
	if sc.Spec.Replicas != nil {
		desired = *sc.Spec.Replicas
	}

	leader, endpoint := "-", "-"
	if st.Leader != nil {
		leader, endpoint = orDash(st.Leader.Pod), orDash(st.Leader.Endpoint)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Cluster:\t%s/%s\n", namespace, name)
	fmt.Fprintf(tw, "Phase:\t%s\n", orDash(string(st.Phase)))
	fmt.Fprintf(tw, "Leader:\t%s (%s)\n", leader, endpoint)
	fmt.Fprintf(tw, "Epoch / sequence:\t%d / %d\n", st.Epoch, st.LeaderSequence)
	fmt.Fprintf(tw, "Replicas:\t%d desired, %d ready\n", desired, st.ReadyReplicas)
	fmt.Fprintf(tw, "Replication:\t%s\n", replicationMode(sc))
	fmt.Fprintf(tw, "Max lag:\t%s\n", orDash(st.MaxLag))
	fmt.Fprintf(tw, "Status read:\t%s\n", ago(st.LastStatusTime, now))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tSTATE\tSYNC\tHEALTHY\tAPPLIED\tLAG ENTRIES\tLAG\tLAST HEARTBEAT")
	if len(st.ReplicaStatuses) == 0 {
		fmt.Fprintln(tw, "(none reported)\t\t\t\t\t\t\t")
	}
	for _, r := range st.ReplicaStatuses {
		hb := ago(r.LastHeartbeat, now)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%dms\t%s\n",
			r.Name, orDash(r.State), orDash(r.SyncState), yesNo(r.Healthy), r.LastAppliedSequence, r.LagEntries, r.LagMs, hb)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if err := instanceTable(out, st.Instances); err != nil {
		return err
	}

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONDITION\tSTATUS\tREASON\tMESSAGE")
	for _, cond := range st.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
	}
	return tw.Flush()
}

// instanceTable prints status.instances, one pod a row, then the message
// of every pod that has one (why it does not start), which is too long for
// a column.
func instanceTable(out io.Writer, instances []sutrav1.InstanceStatus) error {
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tNODE\tREADY\tRESTARTS\tIMAGE\tREASON")
	if len(instances) == 0 {
		fmt.Fprintln(tw, "(no pods)\t\t\t\t\t\t")
	}
	for _, in := range instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			in.Name, orDash(in.Role), orDash(in.Node), yesNo(in.Ready), in.Restarts, orDash(in.Image), orDash(in.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, in := range instances {
		if in.Message != "" {
			fmt.Fprintf(out, "%s: %s: %s\n", in.Name, in.Reason, in.Message)
		}
	}
	return nil
}

// replicationMode is the header's replication line: the configured mode
// and, once the operator counted them, how many replicas are in sync.
func replicationMode(sc *sutrav1.SutraCluster) string {
	sync := sc.Spec.Replication.Synchronous
	if sync == nil {
		return "asynchronous"
	}
	durability := sync.DataDurability
	if durability == "" {
		durability = sutrav1.DataDurabilityRequired
	}
	inSync := "-"
	if st := sc.Status.Synchronous; st != nil {
		inSync = fmt.Sprintf("%d", st.SyncReplicas)
	}
	return fmt.Sprintf("synchronous, each write confirmed by %d %s (%s), in sync: %s",
		sync.Replicas, plural(sync.Replicas, "replica", "replicas"), durability, inSync)
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func ago(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := now.Sub(t.Time)
	if d < 0 {
		d = 0
	}
	return duration.HumanDuration(d) + " ago"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
