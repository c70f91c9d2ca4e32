package kubectlsutra

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func newFenceCommand(o *options) *cobra.Command {
	var off bool
	cmd := &cobra.Command{
		Use:   "fence NAME",
		Short: "Stop a SutraCluster's leader taking writes (reads go on), or with --off let it take them again",
		Long: "Set the " + sutrav1.AnnotationFenced + " annotation of the SutraCluster to \"true\": the operator fences the leader,\n" +
			"which refuses writes and keeps serving reads, and makes no failover, switchover or rollout meanwhile.\n" +
			"--off removes the annotation; the leader then takes writes again, in a new epoch.",
		Example: "  kubectl sutra fence demo -n prod\n  kubectl sutra fence demo -n prod --off",
		Args:    nameArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.connect()
			if err != nil {
				return err
			}
			if err := setFence(cmd.Context(), c, ns, args[0], !off); err != nil {
				return err
			}
			if off {
				fmt.Fprintf(cmd.OutOrStdout(), "fence of %s lifted: its leader takes writes again\n", args[0])
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "fence of %s requested: its leader refuses writes until kubectl sutra fence %s --off\n", args[0], args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&off, "off", false, "lift the fence")
	return cmd
}

// setFence sets (on) or removes the fenced annotation.
func setFence(ctx context.Context, c client.Client, namespace, name string, on bool) error {
	var value any // nil removes the annotation
	if on {
		value = "true"
	}
	return patchAnnotations(ctx, c, namespace, name, map[string]any{sutrav1.AnnotationFenced: value})
}
