package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

func TestErrorTable(t *testing.T) {
	cases := []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{fmt.Errorf("concept.id: %w", store.ErrInvalidID), codes.InvalidArgument},
		{fmt.Errorf("op 3: %w", store.ErrInvalidValue), codes.InvalidArgument},
		{engine.ErrBatchTooLarge, codes.InvalidArgument},
		{fmt.Errorf("x: %w", store.ErrNotFound), codes.NotFound},
		{fmt.Errorf("%w: leader=a:1", ErrReadOnly), codes.FailedPrecondition},
		{replication.ErrClusterMismatch, codes.FailedPrecondition},
		{replication.ErrDiverged, codes.FailedPrecondition},
		{wal.ErrCompacted, codes.OutOfRange},
		{wal.ErrClosed, codes.Unavailable},
		{fmt.Errorf("%w: leader n1 is shutting down", replication.ErrLeaderStopped), codes.Unavailable},
		{fmt.Errorf("%w: %w", wal.ErrUnusable, errors.New("no space left on device")), codes.FailedPrecondition},
		{context.Canceled, codes.Canceled},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{status.Error(codes.ResourceExhausted, "kept"), codes.ResourceExhausted},
		{errors.New("something else"), codes.Internal},
	}
	for _, c := range cases {
		got := toStatus(c.err)
		if status.Code(got) != c.want {
			t.Errorf("%v: code %s, want %s", c.err, status.Code(got), c.want)
		}
		if c.err != nil && c.want != codes.Canceled && c.want != codes.DeadlineExceeded && status.Convert(got).Message() != c.err.Error() &&
			c.want != codes.ResourceExhausted {
			t.Errorf("%v: message %q lost detail", c.err, status.Convert(got).Message())
		}
	}
}
