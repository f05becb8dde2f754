package archive

import (
	"io"
	"sync"
)

// readahead decompresses in a goroutine of its own, up to aheadBufs
// buffers ahead of the tar reader, so that on two cores decompression and
// the file system work of staging overlap (as gzip and tar do in
// `tar -xzf`). Memory is bounded by aheadBufs*aheadSize.
const (
	aheadBufs = 4
	aheadSize = 256 << 10
)

type aheadReader struct {
	full chan []byte
	free chan []byte
	done chan struct{}
	wg   sync.WaitGroup
	err  error // set by the goroutine before it closes full
	cur  []byte
	buf  []byte // the buffer cur is a slice of, returned to free when used up
}

func newAheadReader(r io.Reader) *aheadReader {
	a := &aheadReader{
		full: make(chan []byte, aheadBufs),
		free: make(chan []byte, aheadBufs),
		done: make(chan struct{}),
	}
	for range aheadBufs {
		a.free <- make([]byte, aheadSize)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(a.full)
		for {
			var b []byte
			select {
			case b = <-a.free:
			case <-a.done:
				return
			}
			n, err := io.ReadAtLeast(r, b, len(b)/2)
			if n > 0 {
				select {
				case a.full <- b[:n]:
				case <-a.done:
					return
				}
			}
			if err == io.ErrUnexpectedEOF && n > 0 {
				err = io.EOF // short final chunk
			}
			if err != nil {
				a.err = err
				return
			}
		}
	}()
	return a
}

// Read is not safe for concurrent use (nor is any io.Reader's).
func (a *aheadReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		b, ok := <-a.full
		if !ok {
			return 0, a.err // the goroutine set err before closing full
		}
		a.buf, a.cur = b, b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it, after which the underlying
// reader is no longer used.
func (a *aheadReader) Close() {
	close(a.done)
	a.wg.Wait()
}
