// Package kubectlsutra implements `kubectl sutra`, the kubectl plugin
// (sutractl installed as kubectl-sutra): status prints what the operator
// wrote into a SutraCluster's status, promote and restart ask the operator
// for a switchover or a rolling restart by patching the SutraCluster. It
// talks to the Kubernetes API only; it never dials storage nodes.
package kubectlsutra

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

func newStatusCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Print a SutraCluster's leader, replication, pods and unhealthy conditions",
		Long: "Print what the operator wrote into the SutraCluster's status: leader and epoch, the last failover,\n" +
			"the replication table, one row per pod (status.instances) and the conditions that are not healthy.\n" +
			"A warning comes first when the status is stale. -o json|yaml prints the whole object.",
		Example: "  kubectl sutra status demo -n prod\n  kubectl sutra status demo -o yaml",
		Args:    nameArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" && output != "yaml" {
				return usageErrorf("%s: -o must be table, json or yaml, not %q", cmd.CommandPath(), output)
			}
			c, ns, err := o.connect()
			if err != nil {
				return err
			}
			sc, err := getCluster(cmd.Context(), c, ns, args[0])
			if err != nil {
				return err
			}
			if output == "table" {
				return printStatus(cmd.OutOrStdout(), sc, o.clock())
			}
			return printObject(cmd.OutOrStdout(), sc, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

func getCluster(ctx context.Context, c client.Reader, namespace, name string) (*sutrav1.SutraCluster, error) {
	sc := &sutrav1.SutraCluster{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sc); err != nil {
		return nil, fmt.Errorf("get sutracluster %s/%s: %w", namespace, name, err)
	}
	return sc, nil
}

// printObject prints the whole SutraCluster as JSON or YAML, without
// managedFields, as kubectl get -o does.
func printObject(out io.Writer, sc *sutrav1.SutraCluster, format string) error {
	sc = sc.DeepCopy()
	sc.APIVersion, sc.Kind = sutrav1.GroupVersion.String(), "SutraCluster"
	sc.ManagedFields = nil
	var b []byte
	var err error
	if format == "json" {
		b, err = json.MarshalIndent(sc, "", "    ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(sc)
	}
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// staleWarnings says why the status may not describe the cluster now: the
// operator has not read the leader for three poll intervals, or has not
// reconciled the latest spec.
func staleWarnings(sc *sutrav1.SutraCluster, now time.Time) []string {
	var w []string
	st := sc.Status
	if interval := resources.StatusPollInterval(sc); st.LastStatusTime != nil && now.Sub(st.LastStatusTime.Time) > 3*interval {
		w = append(w, fmt.Sprintf("status is stale: last read %s, more than 3x the status poll interval (%s); is the operator running?",
			ago(st.LastStatusTime, now), interval))
	}
	if st.ObservedGeneration < sc.Generation {
		w = append(w, fmt.Sprintf("status is behind the spec: observedGeneration %d < generation %d; the operator has not reconciled the latest change",
			st.ObservedGeneration, sc.Generation))
	}
	return w
}

// printStatus prints the stale-status warnings, a summary, the per-replica
// replication table, the pods (status.instances) and the conditions that are
// not healthy.
func printStatus(out io.Writer, sc *sutrav1.SutraCluster, now time.Time) error {
	for _, w := range staleWarnings(sc, now) {
		fmt.Fprintf(out, "Warning: %s\n", w)
	}
	st := sc.Status
	desired := sutrav1.DefaultReplicas
	if sc.Spec.Replicas != nil {
		desired = *sc.Spec.Replicas
	}
	endpoint := "-"
	if st.Leader != nil {
		endpoint = orDash(st.Leader.Endpoint)
	}
	current := currentLeader(sc)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Cluster:\t%s/%s\n", sc.Namespace, sc.Name)
	fmt.Fprintf(tw, "Phase:\t%s\n", orDash(string(st.Phase)))
	fmt.Fprintf(tw, "Leader:\t%s (%s)\n", orDash(current), endpoint)
	if st.TargetLeader != "" && st.TargetLeader != current {
		fmt.Fprintf(tw, "Target leader:\tswitching to %s\n", st.TargetLeader)
	}
	fmt.Fprintf(tw, "Epoch / sequence:\t%d / %d\n", st.Epoch, st.LeaderSequence)
	fmt.Fprintf(tw, "Last failover:\t%s\n", lastFailover(st.LastFailover, now))
	fmt.Fprintf(tw, "Replicas:\t%d desired, %d ready\n", desired, st.ReadyReplicas)
	fmt.Fprintf(tw, "Replication:\t%s\n", replicationMode(sc))
	fmt.Fprintf(tw, "TLS:\t%s\n", tlsSummary(sc, now))
	fmt.Fprintf(tw, "Max lag:\t%s\n", orDash(st.MaxLag))
	fmt.Fprintf(tw, "Status read:\t%s\n", ago(st.LastStatusTime, now))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	// LAG is the replay lag (to APPLIED), FLUSH LAG the flush lag (to
	// DURABLE, what the replica keeps if it crashes).
	fmt.Fprintln(tw, "REPLICA\tSTATE\tSYNC\tHEALTHY\tAPPLIED\tDURABLE\tLAG ENTRIES\tLAG\tFLUSH LAG\tLAST HEARTBEAT")
	if len(st.ReplicaStatuses) == 0 {
		fmt.Fprintln(tw, "(none reported)\t\t\t\t\t\t\t\t\t")
	}
	for _, r := range st.ReplicaStatuses {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%dms\t%dms\t%s\n",
			r.Name, orDash(r.State), orDash(r.SyncState), yesNo(r.Healthy), r.LastAppliedSequence, r.LastDurableSequence, r.LagEntries,
			r.LagMs, r.FlushLagMs, ago(r.LastHeartbeat, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if err := instanceTable(out, st.Instances); err != nil {
		return err
	}
	return conditionTable(out, st.Conditions)
}

// tlsSummary is the cluster's TLS mode and, with TLS, the certificate that
// expires first.
func tlsSummary(sc *sutrav1.SutraCluster, now time.Time) string {
	switch sc.Spec.TLS.Mode {
	case sutrav1.TLSDisabled:
		return "disabled (plaintext, no authentication)"
	case "":
		return "-"
	}
	certs := sc.Status.Certificates
	if len(certs) == 0 {
		return "mutual TLS; no certificates reported yet"
	}
	first := certs[0]
	for _, c := range certs[1:] {
		if c.NotAfter.Before(&first.NotAfter) {
			first = c
		}
	}
	left := first.NotAfter.Sub(now).Round(time.Hour)
	return fmt.Sprintf("mutual TLS; %d %s; first to expire: %s in %s (%s)", len(certs), plural(int64(len(certs)), "certificate", "certificates"),
		first.SecretName, left, first.NotAfter.UTC().Format(time.DateOnly))
}

// currentLeader is status.currentLeader or, from an operator that does not
// write it, status.leader.pod.
func currentLeader(sc *sutrav1.SutraCluster) string {
	if sc.Status.CurrentLeader != "" {
		return sc.Status.CurrentLeader
	}
	if sc.Status.Leader != nil {
		return sc.Status.Leader.Pod
	}
	return ""
}

func lastFailover(f *sutrav1.FailoverStatus, now time.Time) string {
	if f == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%s): %s -> %s, %s, epoch %d, %d %s lost",
		ago(&f.Time, now), f.Time.UTC().Format(time.RFC3339), orDash(f.From), orDash(f.To), orDash(f.Reason),
		f.Epoch, f.EntriesLost, plural(f.EntriesLost, "entry", "entries"))
}

// instanceTable prints status.instances, one pod a row, then the message
// of every pod that has one (why it does not start), which is too long for
// a column.
func instanceTable(out io.Writer, instances []sutrav1.InstanceStatus) error {
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tROLE\tNODE\tREADY\tRESTARTS\tIMAGE\tUP-TO-DATE\tREASON")
	if len(instances) == 0 {
		fmt.Fprintln(tw, "(no pods)\t\t\t\t\t\t\t")
	}
	for _, in := range instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			in.Name, orDash(in.Role), orDash(in.Node), yesNo(in.Ready), in.Restarts, orDash(in.Image), yesNo(in.UpToDate), orDash(in.Reason))
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

// conditionHealthy reports whether a condition is in its good state:
// False for the conditions that name a problem or work in progress, True
// for the others.
func conditionHealthy(c metav1.Condition) bool {
	switch c.Type {
	case sutrav1.ConditionDegraded, sutrav1.ConditionFailoverBlocked, sutrav1.ConditionRolloutBlocked, sutrav1.ConditionProgressing,
		sutrav1.ConditionFenced:
		return c.Status == metav1.ConditionFalse
	default:
		return c.Status == metav1.ConditionTrue
	}
}

// conditionTable prints the conditions that are not healthy, with their
// messages; kubectl describe shows all of them.
func conditionTable(out io.Writer, conds []metav1.Condition) error {
	fmt.Fprintln(out)
	var bad []metav1.Condition
	for _, c := range conds {
		if !conditionHealthy(c) {
			bad = append(bad, c)
		}
	}
	switch {
	case len(conds) == 0:
		fmt.Fprintln(out, "Conditions: none reported")
		return nil
	case len(bad) == 0:
		fmt.Fprintln(out, "Conditions: all healthy")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONDITION\tSTATUS\tREASON\tMESSAGE")
	for _, c := range bad {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	return tw.Flush()
}

// conditionSummary is the unhealthy conditions on one line, for errors.
func conditionSummary(conds []metav1.Condition) string {
	var parts []string
	for _, c := range conds {
		if !conditionHealthy(c) {
			parts = append(parts, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
		}
	}
	if len(parts) == 0 {
		return "none unhealthy"
	}
	return strings.Join(parts, "; ")
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

func plural[N int32 | int64](n N, one, many string) string {
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
