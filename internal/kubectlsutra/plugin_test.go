package kubectlsutra

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func TestCommands(t *testing.T) {
	// No kubeconfig of the machine running the tests is read.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	tests := []struct {
		name      string
		args      []string
		wantOut   []string // substrings of stdout
		wantErr   string   // the error, "" for success
		wantUsage bool     // the usage printed to stderr
	}{
		{name: "no command prints help", args: nil, wantOut: []string{"Usage:\n  kubectl sutra [flags]\n  kubectl sutra [command]", "promote", "restart", "status", "completion"}},
		{name: "root help", args: []string{"--help"}, wantOut: []string{"--namespace", "--context", "--kubeconfig", "--request-timeout", "--token"}},
		{name: "status help", args: []string{"status", "--help"}, wantOut: []string{"kubectl sutra status NAME [flags]", "-o, --output"}},
		{name: "promote help", args: []string{"promote", "-h"}, wantOut: []string{"kubectl sutra promote NAME POD [flags]", "--wait", "--timeout"}},
		{name: "restart help", args: []string{"help", "restart"}, wantOut: []string{"kubectl sutra restart NAME [flags]", sutrav1.AnnotationRestartedAt}},
		{name: "completion", args: []string{"completion", "bash"}, wantOut: []string{"bash completion"}},
		{name: "completion zsh", args: []string{"completion", "zsh"}, wantOut: []string{"#compdef"}},
		{name: "status without NAME", args: []string{"status"}, wantErr: "kubectl sutra status: NAME is required", wantUsage: true},
		{name: "status with two names", args: []string{"status", "a", "b"}, wantErr: `kubectl sutra status: unexpected argument "b" (takes NAME)`, wantUsage: true},
		{name: "promote without POD", args: []string{"promote", "demo"}, wantErr: "kubectl sutra promote: POD is required", wantUsage: true},
		{name: "promote without arguments", args: []string{"promote"}, wantErr: "kubectl sutra promote: NAME and POD are required", wantUsage: true},
		{name: "restart without NAME", args: []string{"restart"}, wantErr: "kubectl sutra restart: NAME is required", wantUsage: true},
		{name: "unknown command", args: []string{"stauts"}, wantErr: `unknown command "stauts" for "kubectl sutra"; did you mean status?`, wantUsage: true},
		{name: "unknown flag", args: []string{"status", "demo", "--bogus"}, wantErr: "kubectl sutra status: unknown flag: --bogus", wantUsage: true},
		{name: "unknown output", args: []string{"status", "demo", "-o", "xml"}, wantErr: `kubectl sutra status: -o must be table, json or yaml, not "xml"`, wantUsage: true},
		{name: "status", args: []string{"status", "demo", "-n", "prod"}, wantOut: []string{"Cluster:           prod/demo\n", "POD             ROLE"}},
		{name: "status json", args: []string{"status", "-n", "prod", "demo", "-o", "json"}, wantOut: []string{`"kind": "SutraCluster"`}},
		{name: "status yaml", args: []string{"status", "--namespace=prod", "demo", "--output=yaml"}, wantOut: []string{"kind: SutraCluster\n"}},
		{name: "status of a missing cluster", args: []string{"status", "nope", "-n", "prod"}, wantErr: `get sutracluster prod/nope: sutraclusters.storage.sutra.io "nope" not found`},
		{name: "promote", args: []string{"promote", "demo", "demo-replica-0", "-n", "prod"}, wantOut: []string{"switchover of demo to demo-replica-0 requested\n"}},
		{name: "promote refused", args: []string{"promote", "demo", "demo-leader-0", "-n", "prod"}, wantErr: "demo-leader-0 already leads demo"},
		{name: "promote --wait times out", args: []string{"promote", "demo", "demo-replica-0", "-n", "prod", "--wait", "--timeout", "30ms"},
			wantOut: []string{"switchover of demo to demo-replica-0 requested\n"},
			wantErr: "demo-replica-0 does not lead demo after 30ms: phase Degraded, current leader demo-leader-0, target leader demo-replica-0; conditions: ReplicationHealthy=False"},
		{name: "restart", args: []string{"restart", "demo", "-n", "prod"}, wantOut: []string{"restart of demo requested: replicas first, the leader last\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &options{config: genericclioptions.NewConfigFlags(true), client: fakeClient(t, degradedCluster()),
				now: func() time.Time { return testNow }, pollInterval: 5 * time.Millisecond}
			var out, errOut bytes.Buffer
			err := run(context.Background(), o, tc.args, &out, &errOut)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want nil; stderr:\n%s", err, errOut.String())
			case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if hasUsage := strings.Contains(errOut.String(), "Usage:"); hasUsage != tc.wantUsage {
				t.Errorf("usage on stderr = %v, want %v; stderr:\n%s", hasUsage, tc.wantUsage, errOut.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if tc.wantErr != "" && strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("the error is printed by the caller, not by the command; stderr:\n%s", errOut.String())
			}
		})
	}
}

func TestPromoteWaitPrintsLeader(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	c := fakeClient(t, degradedCluster())
	clock := testNow
	o := &options{config: genericclioptions.NewConfigFlags(true), client: c, pollInterval: 5 * time.Millisecond,
		now: func() time.Time { clock = clock.Add(615 * time.Millisecond); return clock }}
	go func() {
		for {
			sc := get(t, c)
			if sc.Status.TargetLeader == "demo-replica-0" {
				sc.Status.CurrentLeader, sc.Status.Epoch = "demo-replica-0", 4
				if err := c.Status().Update(context.Background(), sc); err != nil {
					t.Error(err)
				}
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var out bytes.Buffer
	if err := run(context.Background(), o, []string{"promote", "demo", "demo-replica-0", "-n", "prod", "--wait"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	want := "switchover of demo to demo-replica-0 requested\ndemo-replica-0 leads demo (epoch 4) after 0.61s\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestStatusJSONIsTheObject(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	o := &options{config: genericclioptions.NewConfigFlags(true), client: fakeClient(t, degradedCluster())}
	var out bytes.Buffer
	if err := run(context.Background(), o, []string{"status", "demo", "-n", "prod", "-o", "json"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	sc := &sutrav1.SutraCluster{}
	if err := json.Unmarshal(out.Bytes(), sc); err != nil {
		t.Fatal(err)
	}
	if sc.Name != "demo" || sc.Status.CurrentLeader != "demo-leader-0" || len(sc.Status.Instances) != 4 {
		t.Errorf("got %+v", sc)
	}
}
