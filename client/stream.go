package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// writeStream carries the writes of any number of goroutines on one
// WriteStream (proto/storage.proto): each write is a request tagged with a
// fresh id, answered by the result with that id.
type writeStream struct {
	stream storagepb.StorageService_WriteStreamClient
	cancel context.CancelFunc
	sendMu sync.Mutex // one Send at a time, as gRPC requires

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan *storagepb.StreamWriteResult
	err     error         // why the stream ended; set once
	ended   chan struct{} // closed when err is set

	inflight atomic.Int32 // writes between the start of write and its return
}

// openWriteStream opens a stream on conn that outlives the caller's ctx;
// ctx bounds only the opening (a connection still being made).
func openWriteStream(ctx context.Context, conn *grpc.ClientConn) (*writeStream, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	stream, err := storagepb.NewStorageServiceClient(conn).WriteStream(sctx)
	if !stop() {
		err = status.FromContextError(ctx.Err()).Err() // ctx ended while opening
	}
	if err != nil {
		cancel()
		return nil, err
	}
	w := &writeStream{stream: stream, cancel: cancel, waiting: map[uint64]chan *storagepb.StreamWriteResult{}, ended: make(chan struct{})}
	go w.receive()
	return w, nil
}

// receive hands each result to its writer until the stream ends, then
// fails every write still waiting.
func (w *writeStream) receive() {
	for {
		r, err := w.stream.Recv()
		w.mu.Lock()
		if err != nil {
			w.end(err)
			w.mu.Unlock()
			return
		}
		ch := w.waiting[r.GetId()]
		delete(w.waiting, r.GetId())
		w.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// end records why the stream ended and fails the writes waiting on it.
// Called with w.mu held.
func (w *writeStream) end(err error) {
	if w.err == nil {
		w.err = err
		close(w.ended)
	}
	for id, ch := range w.waiting {
		close(ch)
		delete(w.waiting, id)
	}
}

// broken reports whether the stream has ended.
func (w *writeStream) broken() bool {
	select {
	case <-w.ended:
		return true
	default:
		return false
	}
}

// write sends ops as one write and waits for its result. sent is false
// when the request never left (the stream had ended): the write was not
// applied. With sent true, an error is either the node's refusal (a
// status error from the result) or ErrUnknownOutcome.
func (w *writeStream) write(ctx context.Context, ops []*storagepb.WriteOp) (res *storagepb.StreamWriteResult, sent bool, err error) {
	w.inflight.Add(1)
	defer w.inflight.Add(-1)
	ch := make(chan *storagepb.StreamWriteResult, 1)
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return nil, false, err
	}
	w.next++
	id := w.next
	w.waiting[id] = ch
	w.mu.Unlock()
	w.sendMu.Lock()
	err = w.stream.Send(&storagepb.StreamWriteRequest{Id: id, Ops: ops})
	w.sendMu.Unlock()
	if err != nil {
		// gRPC queues nothing when Send fails. io.EOF means the node
		// has ended the stream: receive is about to get its status.
		w.mu.Lock()
		delete(w.waiting, id)
		if !errors.Is(err, io.EOF) {
			w.end(err)
		}
		w.mu.Unlock()
		select {
		case <-w.ended:
		case <-ctx.Done():
			return nil, false, status.FromContextError(ctx.Err()).Err()
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return nil, false, w.err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			w.mu.Lock()
			defer w.mu.Unlock()
			if refusedStream(w.err) {
				return nil, true, w.err // the node ran none of the stream's writes
			}
			return nil, true, fmt.Errorf("%w: %w", ErrUnknownOutcome, w.err)
		}
		if c := codes.Code(r.GetCode()); c != codes.OK {
			return r, true, status.Error(c, r.GetMessage())
		}
		return r, true, nil
	case <-ctx.Done():
		// The result, when it comes, finds its buffered channel.
		return nil, true, fmt.Errorf("%w: %w", ErrUnknownOutcome, status.FromContextError(ctx.Err()).Err())
	}
}

// close ends the stream; writes still waiting fail.
func (w *writeStream) close() {
	w.sendMu.Lock()
	_ = w.stream.CloseSend()
	w.sendMu.Unlock()
	w.cancel()
}

// refusedStream reports whether err ended a stream before the node ran
// any of its writes, and would end another the same way: the caller may
// not write (PERMISSION_DENIED, UNAUTHENTICATED) or the node has no
// WriteStream (UNIMPLEMENTED). The node checks these when the stream
// opens, before it reads a request.
func refusedStream(err error) bool {
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
		return true
	}
	return false
}
