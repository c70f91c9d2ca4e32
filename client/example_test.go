package client_test

import (
	"context"
	"log"
	"time"

	"github.com/sutra/sutra-operator/client"
)

// Writing a concept to a cluster of three nodes started with --insecure.
func Example() {
	c, err := client.New(client.Config{Addrs: []string{"sutra-0:50051", "sutra-1:50051", "sutra-2:50051"}})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := []byte("0123456789abcdef") // 16 bytes
	r, err := c.Write(ctx, client.PutConcept(&client.Concept{Id: id, Content: []byte("hello"), Strength: 1, Confidence: 1}))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("durable at sequence %d", r.Last)
}
