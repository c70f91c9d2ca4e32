// Command sutractl is the Sutra command line: replication status, reads and
// writes, and the load benchmark. Installed as kubectl-sutra it is also the
// kubectl plugin: kubectl sutra status, promote and restart.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/sutra/sutra-operator/internal/kubectlsutra"
	"github.com/sutra/sutra-operator/internal/sutractl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	run := sutractl.Run
	if filepath.Base(os.Args[0]) == "kubectl-sutra" {
		run = kubectlsutra.RunPlugin // invoked by kubectl as `kubectl sutra ...`
	}
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
