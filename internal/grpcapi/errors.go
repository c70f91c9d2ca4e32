package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// ErrReadOnly is returned for writes sent to a replica.
var ErrReadOnly = errors.New("this node is a read-only replica")

// errChangingRoles is returned while a node switches between leader and
// replica.
var errChangingRoles = errors.New("node is changing roles")

// codeTable maps domain errors to gRPC codes. The first match wins.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{store.ErrInvalidID, codes.InvalidArgument},
	{store.ErrBadOp, codes.InvalidArgument},
	{store.ErrTooLarge, codes.InvalidArgument},
	{store.ErrInvalidValue, codes.InvalidArgument},
	{engine.ErrEmptyBatch, codes.InvalidArgument},
	{engine.ErrBatchTooLarge, codes.InvalidArgument},
	{replication.ErrBadRequest, codes.InvalidArgument},
	{store.ErrNotFound, codes.NotFound},
	{ErrReadOnly, codes.FailedPrecondition},
	{replication.ErrNotLeader, codes.FailedPrecondition},
	{replication.ErrClusterMismatch, codes.FailedPrecondition},
	{replication.ErrStaleEpoch, codes.FailedPrecondition},
	{replication.ErrDiverged, codes.FailedPrecondition},
	{replication.ErrDuplicateID, codes.FailedPrecondition},
	{replication.ErrFenced, codes.Unavailable},
	{replication.ErrSyncTimeout, codes.Unavailable},
	{replication.ErrLeaderStopped, codes.Unavailable},
	{replication.ErrStreamReplaced, codes.Unavailable},
	{wal.ErrCompacted, codes.OutOfRange},
	{wal.ErrOutOfRange, codes.OutOfRange},
	{wal.ErrClosed, codes.Unavailable},
	{errChangingRoles, codes.Unavailable},
	{wal.ErrUnusable, codes.FailedPrecondition},
	{wal.ErrTooLarge, codes.InvalidArgument},
}

// toStatus converts a domain error into a gRPC status error. Context
// errors pass through as Canceled/DeadlineExceeded; status errors are kept.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}
