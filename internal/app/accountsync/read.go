package accountsync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// syncRun is the state of one Run.
type syncRun struct {
	*Service
	ctx     context.Context
	meta    events.Meta
	fields  fieldMap
	batch   int
	pending []syncLine
	report  Report
	pos     events.Position
	// flight is the batch being appended while the next one is read and
	// planned (nil: none).
	flight *flight
}

func (r *syncRun) fail(line int, err error) {
	if len(r.report.Failed) >= orDefault(r.MaxFailures, DefaultMaxFailures) {
		r.report.FailedOmitted++
		return
	}
	f := Failure{Line: line, Code: "validation_failed", Message: err.Error()}
	var de *domain.Error
	if errors.As(err, &de) {
		f.Code, f.Message = de.Code, de.Message
	}
	r.report.Failed = append(r.report.Failed, f)
}

// read parses the body line by line (blank lines are skipped, line
// numbers count every line) and flushes a batch whenever one is full.
func (r *syncRun) read(body io.Reader, maxLine int, maxBytes int64) error {
	br := bufio.NewReaderSize(io.LimitReader(body, maxBytes+1), maxLine+2) // room for "\r\n"
	var read int64
	for n := 1; ; n++ {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		line, err := br.ReadSlice('\n')
		read += int64(len(line))
		if errors.Is(err, bufio.ErrBufferFull) {
			r.fail(n, lineError("line_too_long", "the line is longer than %d bytes", maxLine))
			for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of it
				line, err = br.ReadSlice('\n')
				read += int64(len(line))
			}
			line = nil
		}
		if read > maxBytes {
			r.fail(n, domain.New(domain.KindTooLarge, "body_too_large", "the body is larger than %d bytes: this line and the rest were not read", maxBytes))
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if cerr := r.ctx.Err(); cerr != nil {
				return cerr
			}
			return domain.New(domain.KindValidation, "incomplete_body", "the body could not be read to its end (line %d): %v", n, err)
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			rec, hash, perr := r.fields.parse(trimmed)
			if perr != nil {
				r.fail(n, perr)
			} else {
				r.pending = append(r.pending, syncLine{n: n, rec: rec, hash: hash})
				if len(r.pending) >= r.batch {
					if err := r.flush(); err != nil {
						return err
					}
				}
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// flushAll applies what is pending.
func (r *syncRun) flushAll() error {
	for len(r.pending) > 0 {
		if err := r.flush(); err != nil {
			return err
		}
	}
	return r.settle()
}
