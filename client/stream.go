package client

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// writeStream carries the writes of any number of goroutines on one
// WriteStream (proto/storage.proto): each write is a request tagged with a
// fresh id, answered by the result with that id.
type writeStream struct {
	conn   *grpc.ClientConn // not owned: the session closes it
	stream storagepb.StorageService_WriteStreamClient
	cancel context.CancelFunc
	sendMu sync.Mutex // one Send at a time, as gRPC requires

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan *storagepb.StreamWriteResult
	err     error // why the stream ended; set once
}

func openWriteStream(conn *grpc.ClientConn) (*writeStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := storagepb.NewStorageServiceClient(conn).WriteStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	w := &writeStream{conn: conn, stream: stream, cancel: cancel, waiting: map[uint64]chan *storagepb.StreamWriteResult{}}
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
	}
	for id, ch := range w.waiting {
		close(ch)
		delete(w.waiting, id)
	}
}

// broken reports whether the stream has ended.
func (w *writeStream) broken() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

// write sends ops as one write and waits for its result. sent is false
// when the request never left (the stream had ended): the write was not
// applied. With sent true, an error is either the node's refusal (a
// status error from the result) or ErrUnknownOutcome.
func (w *writeStream) write(ctx context.Context, ops []*storagepb.WriteOp) (res *storagepb.StreamWriteResult, sent bool, err error) {
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
		// gRPC queues nothing when Send fails (io.EOF: the node has
		// ended the stream).
		w.mu.Lock()
		delete(w.waiting, id)
		w.end(err)
		w.mu.Unlock()
		return nil, false, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			w.mu.Lock()
			defer w.mu.Unlock()
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
