package kubectlsutra

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func newPromoteCommand(o *options) *cobra.Command {
	var waitFor bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "promote NAME POD",
		Short: "Ask the operator for a switchover of the leader to POD",
		Long: "Ask the operator for a planned switchover: POD, a ready instance of NAME that does not lead it,\n" +
			"becomes the leader. It sets status.targetLeader; the operator does the switchover.\n" +
			"With --wait it waits until status.currentLeader is POD.",
		Example: "  kubectl sutra promote demo demo-replica-1 --wait",
		Args:    nameArgs("NAME", "POD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, pod := args[0], args[1]
			c, ns, err := o.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := requestSwitchover(ctx, c, ns, name, pod); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "switchover of %s to %s requested\n", name, pod)
			if !waitFor {
				return nil
			}
			start := o.clock()
			sc, err := waitForLeader(ctx, c, ns, name, pod, o.pollInterval, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s leads %s (epoch %d) after %.2fs\n", pod, name, sc.Status.Epoch, o.clock().Sub(start).Seconds())
			return nil
		},
	}
	cmd.Flags().BoolVar(&waitFor, "wait", false, "wait until POD leads NAME")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long --wait waits")
	return cmd
}

// validatePromote refuses a switchover the operator could not or should
// not do: POD is not an instance of the cluster, already leads it, is not
// ready, or another change of leader is under way.
func validatePromote(sc *sutrav1.SutraCluster, pod string) error {
	st := sc.Status
	var in *sutrav1.InstanceStatus
	names := make([]string, 0, len(st.Instances))
	for i := range st.Instances {
		names = append(names, st.Instances[i].Name)
		if st.Instances[i].Name == pod {
			in = &st.Instances[i]
		}
	}
	if in == nil {
		list := strings.Join(names, ", ")
		if list == "" {
			list = "none reported"
		}
		return fmt.Errorf("%s is not an instance of %s (instances: %s)", pod, sc.Name, list)
	}
	current := currentLeader(sc)
	if pod == current {
		return fmt.Errorf("%s already leads %s", pod, sc.Name)
	}
	if !in.Ready {
		reason := in.Reason
		if reason == "" {
			reason = "no reason reported (phase " + orDash(string(in.Phase)) + ")"
		}
		if in.Message != "" {
			reason += ": " + in.Message
		}
		return fmt.Errorf("%s is not ready: %s", pod, reason)
	}
	if t := st.TargetLeader; t != "" && t != current && t != pod {
		return fmt.Errorf("%s is already switching to %s (phase %s); wait until it is done", sc.Name, t, orDash(string(st.Phase)))
	}
	return nil
}

// switchoverPatch is the merge patch of the status subresource that asks
// for a switchover to pod. The resourceVersion makes it conditional: if the
// status changed since it was validated the API server refuses it.
func switchoverPatch(pod, resourceVersion string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": resourceVersion},
		"status":   map[string]any{"targetLeader": pod},
	})
}

// requestSwitchover reads the cluster, validates the switchover and sets
// status.targetLeader to pod; on a conflict it reads and validates again.
func requestSwitchover(ctx context.Context, c client.Client, namespace, name, pod string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := getCluster(ctx, c, namespace, name)
		if err != nil {
			return err
		}
		if err := validatePromote(sc, pod); err != nil {
			return err
		}
		patch, err := switchoverPatch(pod, sc.ResourceVersion)
		if err != nil {
			return err
		}
		if err := c.Status().Patch(ctx, sc, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("patch sutracluster %s/%s status: %w", namespace, name, err)
		}
		return nil
	})
}

// waitForLeader reads the cluster every interval (250ms by default) until
// status.currentLeader is pod, and fails after timeout with the phase and
// the unhealthy conditions.
func waitForLeader(ctx context.Context, c client.Reader, namespace, name, pod string, interval, timeout time.Duration) (*sutrav1.SutraCluster, error) {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	var sc *sutrav1.SutraCluster
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := getCluster(ctx, c, namespace, name)
		if err != nil {
			return false, err
		}
		sc = got
		return sc.Status.CurrentLeader == pod, nil
	})
	if err == nil {
		return sc, nil
	}
	if sc == nil || !wait.Interrupted(err) || ctx.Err() != nil { // not read, failed, or interrupted by the user
		return nil, err
	}
	return nil, fmt.Errorf("%s does not lead %s after %s: phase %s, current leader %s, target leader %s; conditions: %s",
		pod, name, timeout, orDash(string(sc.Status.Phase)), orDash(currentLeader(sc)), orDash(sc.Status.TargetLeader),
		conditionSummary(sc.Status.Conditions))
}
