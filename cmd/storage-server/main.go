// Command storage-server runs a Sutra storage node: a leader that accepts
// writes and streams its write-ahead log, or a replica that follows it.
//
// Configuration comes from SUTRA_* environment variables, each also a flag
// (see --help); flags win. Wrong or missing configuration exits with one
// line saying what is wrong.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sutra/sutra-operator/internal/node"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs passed in; it returns the exit
// status. -h/--help prints the usage to stdout and returns 0.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := node.ParseConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		// ParseConfig returns the usage after the flag package's message.
		fmt.Fprint(stdout, strings.TrimPrefix(err.Error(), flag.ErrHelp.Error()+"\n"))
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := node.Run(ctx, cfg, log, nil); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
