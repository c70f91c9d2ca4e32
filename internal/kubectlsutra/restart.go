package kubectlsutra

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func newRestartCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart every pod of a SutraCluster in order, replicas first, the leader last",
		Long: "Set the " + sutrav1.AnnotationRestartedAt + " annotation of the SutraCluster to the current time.\n" +
			"The operator copies it into the pod template, so every pod is recreated in order: replicas first, the leader last.",
		Example: "  kubectl sutra restart demo -n prod",
		Args:    nameArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.connect()
			if err != nil {
				return err
			}
			if err := requestRestart(cmd.Context(), c, ns, args[0], o.clock()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restart of %s requested: replicas first, the leader last\n", args[0])
			return nil
		},
	}
}

// requestRestart sets the restartedAt annotation of the SutraCluster to now
// (RFC3339) with a metadata merge patch.
func requestRestart(ctx context.Context, c client.Client, namespace, name string, now time.Time) error {
	return patchAnnotations(ctx, c, namespace, name, map[string]any{sutrav1.AnnotationRestartedAt: now.UTC().Format(time.RFC3339)})
}

// patchAnnotations merge-patches the SutraCluster's annotations: a nil
// value removes one.
func patchAnnotations(ctx context.Context, c client.Client, namespace, name string, annotations map[string]any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	sc := &sutrav1.SutraCluster{}
	sc.Namespace, sc.Name = namespace, name
	if err := c.Patch(ctx, sc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("patch sutracluster %s/%s: %w", namespace, name, err)
	}
	return nil
}
