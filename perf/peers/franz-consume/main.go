// franz-consume: reads a Kafka topic from the start with franz-go (kgo), as Bento's
// kafka_franz input configures it by default, until N records have been seen, then prints
//
//	{"records":N,"bytes":B,"seconds":S,"rate":R,"cpu_user_s":U,"cpu_sys_s":Y}
//
// bytes: record values; seconds: first record to the N-th; CPU: getrusage of the process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "franz-consume: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	brokers := flag.String("brokers", "localhost:9092", "seed brokers, comma-separated")
	topic := flag.String("topic", "", "topic to consume (required)")
	n := flag.Int64("n", 0, "stop after this many records (required, > 0)")
	group := flag.String("group", "", "consumer group; empty: consume every partition directly, from the start")
	timeout := flag.Duration("timeout", 120*time.Second, "give up (exit 1) when N records have not been read by then")
	flag.Parse()
	if *topic == "" || *n <= 0 {
		fmt.Fprintln(os.Stderr, "usage: franz-consume -brokers host:port -topic T -n N [-group G] [-timeout 120s]")
		os.Exit(2)
	}

	// The options Bento's kafka_franz input sets with its defaults (client_id bento,
	// start_from_oldest, metadata_max_age 5m, fetch_max_bytes 50MiB,
	// fetch_max_partition_bytes 1MiB, fetch_max_wait 5s, cooperative_sticky; with a group:
	// marked offsets auto-committed every commit_period, 5s).
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumeTopics(*topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ClientID("bento"),
		kgo.MetadataMaxAge(5 * time.Minute),
		kgo.FetchMaxBytes(50 << 20),
		kgo.FetchMaxPartitionBytes(1 << 20),
		kgo.FetchMaxWait(5 * time.Second),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
	}
	if *group != "" {
		opts = append(opts,
			kgo.ConsumerGroup(*group),
			kgo.AutoCommitMarks(),
			kgo.AutoCommitInterval(5*time.Second),
		)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fail("client: %v", err)
	}
	defer cl.Close()

	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(*timeout))
	defer cancel()
	// A broker that is still starting is waited for, up to the deadline.
	for {
		err := cl.Ping(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Until(start.Add(*timeout)) < 250*time.Millisecond {
			fail("no broker answered at %s within %s: %v", *brokers, *timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	var records, bytes int64
	var first time.Time
	for records < *n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			hint := ""
			if records == 0 {
				hint = " (none arrived: does the topic exist and hold records?)"
			}
			fail("timed out after %s at %d/%d records%s", *timeout, records, *n, hint)
		}
		if errors.Is(fetches.Err0(), kgo.ErrClientClosed) {
			fail("client closed at %d/%d records", records, *n)
		}
		fetches.EachError(func(t string, p int32, err error) {
			fmt.Fprintf(os.Stderr, "franz-consume: fetch error %s[%d]: %v\n", t, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if records >= *n {
				return
			}
			if first.IsZero() {
				first = time.Now()
			}
			records++
			bytes += int64(len(r.Value))
		})
		if *group != "" {
			cl.MarkCommitRecords(fetches.Records()...)
		}
	}
	secs := time.Since(first).Seconds()
	if *group != "" {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = cl.CommitMarkedOffsets(cctx)
		ccancel()
	}

	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	out, _ := json.Marshal(result{
		Records: records,
		Bytes:   bytes,
		Seconds: round(secs, 3),
		Rate:    round(float64(records)/max(secs, 1e-9), 0),
		CPUUser: round(tv(ru.Utime), 3),
		CPUSys:  round(tv(ru.Stime), 3),
	})
	fmt.Println(string(out))
}

type result struct {
	Records int64   `json:"records"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	CPUUser float64 `json:"cpu_user_s"`
	CPUSys  float64 `json:"cpu_sys_s"`
}

func round(x float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}
