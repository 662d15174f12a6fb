// blobl-diff: runs Bloblang mappings the way Benthos v4.60.0's `mapping` processor does, one
// case per stdin line, one result per stdout line, in order. A Rust test sends the same cases
// to flexprice-collector's engine and prints every divergence.
//
// In:  {"id":…,"mapping":"…","input":"<message content>","meta":{"k":"v",…},"mutation":false}
//
//	"mutation": true runs the mapping as the `mutation` processor does (root starts as
//	the input, edited in place); absent or false, as the `mapping` processor.
//
// Out: {"id":…,"parse_error":"…"}            the mapping does not compile
//
//	{"id":…,"error":"…"}                  it fails at run time (also "panic: …")
//	{"id":…,"deleted":true}               it deletes the message
//	{"id":…,"content":"…","json":<content parsed, or null>,"meta":{…as strings…}}
//	{"id":…,"request_error":"…"}          the line itself is not a valid request
//
// The cases run in a child process (this binary with BLOBL_DIFF_WORKER=1), so a fatal Go
// error (stack overflow, out of memory) or a case that hangs past -case-timeout becomes that
// case's {"error":"crash: …"} and the next case gets a fresh child.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
)

const workerEnv = "BLOBL_DIFF_WORKER"

type request struct {
	ID      json.RawMessage            `json:"id"`
	Mapping *string                    `json:"mapping"`
	Input   *string                    `json:"input"`
	Meta    map[string]json.RawMessage `json:"meta"`
	// Mutation: run as the `mutation` processor (BloblangMutate) instead of `mapping`.
	Mutation bool `json:"mutation"`
}

type response struct {
	ID           json.RawMessage   `json:"id"`
	ParseError   *string           `json:"parse_error,omitempty"`
	Error        *string           `json:"error,omitempty"`
	RequestError *string           `json:"request_error,omitempty"`
	Deleted      bool              `json:"deleted,omitempty"`
	Content      *string           `json:"content,omitempty"`
	JSON         json.RawMessage   `json:"json,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	ok           bool
}

func (r response) MarshalJSON() ([]byte, error) {
	type plain response
	id := r.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	r.ID = id
	if !r.ok {
		return json.Marshal(plain(r))
	}
	// A result always carries content, json (null when not JSON) and meta ({} when none).
	js := r.JSON
	if len(js) == 0 {
		js = json.RawMessage("null")
	}
	meta := r.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return json.Marshal(struct {
		ID      json.RawMessage   `json:"id"`
		Content string            `json:"content"`
		JSON    json.RawMessage   `json:"json"`
		Meta    map[string]string `json:"meta"`
	}{id, *r.Content, js, meta})
}

func str(s string) *string { return &s }

// ---- worker: runs the cases ------------------------------------------------------------

type compiled struct {
	exec *bloblang.Executor
	err  error
}

type worker struct {
	cache map[string]compiled
}

func (w *worker) compile(m string) compiled {
	if c, ok := w.cache[m]; ok {
		return c
	}
	if len(w.cache) >= 4096 {
		clear(w.cache)
	}
	var c compiled
	func() {
		defer func() {
			if p := recover(); p != nil {
				c = compiled{err: fmt.Errorf("panic: %v", p)}
			}
		}()
		// bloblang.Parse uses the global environment, as the mapping processor of a
		// Benthos binary with the pure and io bundles does.
		c.exec, c.err = bloblang.Parse(m)
	}()
	w.cache[m] = c
	return c
}

func (w *worker) run(line []byte) (res response) {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return response{RequestError: str("not a JSON request: " + err.Error())}
	}
	res.ID = req.ID
	if req.Mapping == nil || req.Input == nil {
		res.RequestError = str(`a request needs "mapping" and "input" strings`)
		return res
	}

	c := w.compile(*req.Mapping)
	if c.err != nil {
		var perr *bloblang.ParseError
		if errors.As(c.err, &perr) {
			// The position the way Benthos reports a mapping that does not parse.
			res.ParseError = str(fmt.Sprintf("line %d char %d: %s", perr.Line, perr.Column, perr.Error()))
		} else if c.exec == nil && !isPanic(c.err) {
			res.ParseError = str(c.err.Error())
		} else {
			res.Error = str(c.err.Error())
		}
		return res
	}

	defer func() {
		if p := recover(); p != nil {
			res = response{ID: req.ID, Error: str(fmt.Sprintf("panic: %v", p))}
		}
	}()

	msg := service.NewMessage([]byte(*req.Input))
	for k, raw := range req.Meta {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			// MetaSetMut, not MetaSet: MetaSet deletes a key set to "", while an input keeps
			// it (a Kafka header with an empty value is still there).
			msg.MetaSetMut(k, s)
			continue
		}
		// A non-string value becomes typed metadata, as an input's MetaSetMut sets it
		// (e.g. kafka_partition is an int).
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			res.RequestError = str(fmt.Sprintf("meta %q: %v", k, err))
			return res
		}
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				v = i
			} else if f, err := n.Float64(); err == nil {
				v = f
			}
		}
		msg.MetaSetMut(k, v)
	}

	run := msg.BloblangQuery
	if req.Mutation {
		run = msg.BloblangMutate
	}
	out, err := run(c.exec)
	if err != nil {
		res.Error = str(err.Error())
		return res
	}
	if out == nil {
		res.Deleted = true
		return res
	}
	content, err := out.AsBytes()
	if err != nil {
		res.Error = str("content: " + err.Error())
		return res
	}
	res.ok = true
	res.Content = str(string(content))
	if json.Valid(content) {
		var buf bytes.Buffer
		if json.Compact(&buf, content) == nil {
			res.JSON = buf.Bytes()
		}
	}
	res.Meta = map[string]string{}
	_ = out.MetaWalk(func(k, v string) error {
		res.Meta[k] = v
		return nil
	})
	return res
}

func isPanic(err error) bool {
	return err != nil && len(err.Error()) > 7 && err.Error()[:7] == "panic: "
}

func encode(r response) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(response{ID: r.ID, Error: str("encoding the result: " + err.Error())})
	}
	return append(b, '\n')
}

func runWorker() {
	// A runaway recursion (a mapping nested millions deep) dies sooner than at Go's 1 GB.
	debug.SetMaxStack(128 << 20)
	w := &worker{cache: map[string]compiled{}}
	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	for {
		line, err := in.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out.Write(encode(w.run(line)))
			if in.Buffered() == 0 {
				out.Flush()
			}
		}
		if err != nil {
			out.Flush()
			return
		}
	}
}

// ---- supervisor: feeds the worker one case at a time ------------------------------------

// stderrTee passes the worker's stderr through and keeps its first "fatal error:" or
// "panic:" line, so a crash can say why.
type stderrTee struct {
	mu     sync.Mutex
	buf    []byte
	reason string
}

func (t *stderrTee) Write(p []byte) (int, error) {
	os.Stderr.Write(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reason == "" && len(t.buf) < 1<<16 {
		t.buf = append(t.buf, p...)
		for _, l := range strings.Split(string(t.buf), "\n") {
			if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") {
				t.reason = strings.TrimSpace(l)
				break
			}
		}
	}
	return len(p), nil
}

func (t *stderrTee) why() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reason
}

type child struct {
	stderr *stderrTee
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	done   chan error
}

func startChild() (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	tee := &stderrTee{}
	cmd.Stderr = tee
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{stderr: tee, cmd: cmd, stdin: stdin, lines: make(chan []byte), done: make(chan error, 1)}
	go func() {
		r := bufio.NewReaderSize(stdout, 1<<16)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				close(c.lines)
				c.done <- cmd.Wait()
				return
			}
			c.lines <- line
		}
	}()
	return c, nil
}

func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.stdin.Close()
	for range c.lines {
	}
	<-c.done
}

func requestID(line []byte) json.RawMessage {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(line, &r)
	return r.ID
}

func main() {
	if os.Getenv(workerEnv) == "1" {
		runWorker()
		return
	}
	caseTimeout := flag.Duration("case-timeout", 30*time.Second, "longest one case may run before it is reported as a crash")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: blobl-diff [-case-timeout 30s] < cases.jsonl > results.jsonl")
		flag.PrintDefaults()
	}
	flag.Parse()

	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	defer out.Flush()
	var c *child
	defer func() {
		if c != nil {
			_ = c.stdin.Close()
			for range c.lines {
			}
			<-c.done
		}
	}()

	for {
		line, rerr := in.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if c == nil {
				var err error
				if c, err = startChild(); err != nil {
					fmt.Fprintln(os.Stderr, "blobl-diff: cannot start the worker:", err)
					os.Exit(1)
				}
			}
			var res []byte
			if _, err := c.stdin.Write(append(line, '\n')); err == nil {
				select {
				case l, ok := <-c.lines:
					if ok {
						res = l
					}
				case <-time.After(*caseTimeout):
					c.kill()
					res = encode(response{ID: requestID(line), Error: str(fmt.Sprintf("crash: no result within %s", *caseTimeout))})
					c = nil
				}
			}
			if res == nil && c != nil {
				_ = c.stdin.Close()
				for range c.lines {
				}
				werr := <-c.done
				if werr == nil {
					werr = errors.New("worker exited")
				}
				why := werr.Error()
				if r := c.stderr.why(); r != "" {
					why = r + " (" + why + ")"
				}
				res = encode(response{ID: requestID(line), Error: str("crash: " + why)})
				c = nil
			}
			out.Write(res)
			if in.Buffered() == 0 {
				out.Flush()
			}
		}
		if rerr != nil {
			return
		}
	}
}
