// Package sutractl implements the sutractl command line: the replication
// table (status), single reads and writes (put, get, stats) and the load
// benchmark (bench). cmd/sutractl only wires it to os.Args.
package sutractl
