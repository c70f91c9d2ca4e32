package sutractl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// streamReader reads concepts on one ReadStream (proto/storage.proto), one
// read at a time: the node answers in request order, so each Read sends a
// request and receives its result, without a unary call each.
type streamReader struct {
	mu     sync.Mutex
	stream storagepb.StorageService_ReadStreamClient
	cancel context.CancelFunc
	next   uint64
}

func newStreamReader(ctx context.Context, c storagepb.StorageServiceClient) (*streamReader, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.ReadStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &streamReader{stream: stream, cancel: cancel}, nil
}

// Read returns the concept with id, or the status error GetConcept
// returns; an error of the stream itself ends the reader.
func (r *streamReader) Read(id []byte) (*storagepb.StreamReadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	if err := r.stream.Send(&storagepb.StreamReadRequest{Id: r.next, ConceptId: id}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// After io.EOF from Send (the node ended the stream), Recv returns
	// the stream's status.
	res, err := r.stream.Recv()
	if err != nil {
		return nil, err
	}
	if res.GetId() != r.next {
		return nil, fmt.Errorf("sutractl: read stream answered %d, want %d", res.GetId(), r.next)
	}
	if c := codes.Code(res.GetCode()); c != codes.OK {
		return res, status.Error(c, res.GetMessage())
	}
	return res, nil
}

// Close ends the stream.
func (r *streamReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.stream.CloseSend()
	r.cancel()
	return err
}
