package grimoire_test

import (
	"context"
	"fmt"
	"log"
	"os"

	grimoire "github.com/grimoire-run/grimoire/client-sdk/go"
)

// Run the demo spell that `grimoire serve` starts with, watch each node,
// then rebuild every node's result from the run's recorded history.
func Example() {
	ctx := context.Background()
	c, err := grimoire.New("http://127.0.0.1:8080", grimoire.WithToken(os.Getenv("GRIMOIRE_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Stream(ctx, "demo", map[string]any{"name": "Ada"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for s.Next() {
		e := s.Event()
		fmt.Println(e.Seq, e.Type, e.NodeID, e.Outputs)
	}
	if err := s.Err(); err != nil {
		log.Fatal(err)
	}
	replay, err := c.Replay(ctx, s.RunID())
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range replay.Nodes {
		fmt.Println(n.NodeID, n.Inputs, "->", n.Outputs)
	}
}
