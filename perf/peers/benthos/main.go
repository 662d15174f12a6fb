// The Benthos CLI (v4.60.0) with the pure and io component bundles: the peer that
// flexprice-collector is measured against. Built by ../build, never by cargo.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
)

func main() {
	// service.RunCLI, except for one thing: v4.60.0's `blobl` subcommand prints its results
	// from a goroutine that it does not wait for, so the process can exit before the last
	// line is written (with one input line it is lost most of the time). A short pause
	// after a `blobl` run lets that goroutine finish.
	code, err := service.RunCLIToCode(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
	}
	if len(os.Args) > 1 && os.Args[1] == "blobl" && (len(os.Args) < 3 || os.Args[2] != "server") {
		time.Sleep(50 * time.Millisecond)
	}
	os.Exit(code)
}
