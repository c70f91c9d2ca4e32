package client

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/grpcdial"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// endedStream is a node whose WriteStream ends at once with a status, as a
// node going away does.
type endedStream struct {
	storagepb.UnimplementedStorageServiceServer
	ended chan struct{}
}

var errGoingAway = status.Error(codes.Unavailable, "node n1 is shutting down")

func (e *endedStream) WriteStream(storagepb.StorageService_WriteStreamServer) error {
	e.ended <- struct{}{}
	return errGoingAway
}

// A write on a stream the node has ended did not leave, and fails with the
// node's status, not with the io.EOF gRPC's Send returns once the stream
// is over.
func TestWriteOnAnEndedStreamReportsWhy(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	e := &endedStream{ended: make(chan struct{}, 1)}
	storagepb.RegisterStorageServiceServer(srv, e)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpcdial.Dial(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	w, err := openWriteStream(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	<-e.ended
	time.Sleep(100 * time.Millisecond) // the status reaches the client
	_, sent, err := w.write(context.Background(), []*storagepb.WriteOp{PutConcept(&Concept{Id: make([]byte, 16)}).op})
	if sent || status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("write on an ended stream: sent %t, %v; want not sent, %v", sent, err, errGoingAway)
	}
	if !w.broken() {
		t.Fatal("the stream does not say it ended")
	}
}

// Opening a stream to a node that accepts the connection and never speaks
// ends with the caller's context, not gRPC's connect timeout.
func TestOpenWriteStreamStopsWithItsContext(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0") // the kernel accepts; nobody answers
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lis.Close() }()
	conn, err := grpcdial.Dial(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	w, err := openWriteStream(ctx, conn)
	if err == nil {
		w.close()
	}
	if took := time.Since(start); status.Code(err) != codes.DeadlineExceeded || took > 3*time.Second {
		t.Fatalf("open on a silent node: %v after %v, want DEADLINE_EXCEEDED after about 300ms", err, took)
	}
}
