// Package runner is bai-krunner, the in-container kernel runner: the Go
// counterpart of upstream's ai.backend.kernel (BaseRunner and the python
// runner). It is built into a static binary that runs inside containers
// of any image, so it imports nothing of this module but itself.
//
// # Agent protocol (spec §12)
//
// The runner binds PULL (replin, default :2000) and PUSH (replout, :2001).
// Every message is two frames, [type, payload]; others are dropped. Runs
// (`code`, `clean`, `build`, `exec`) queue up and run one at a time; each
// streams `stdout`/`stderr` records (at most MaxRecordBytes each) and ends
// with `finished`, `build-finished` or `clean-finished` {"exitCode": n}.
// `interrupt`, `input`, `status` (msgpack {"started_at"}), `complete`,
// `get-apps`, `start-service`, `shutdown-service` and `event` are handled
// as they come, so an interrupt never waits behind a run. Everything for
// the agent goes through a bounded queue drained by one goroutine: the
// runner never waits on the agent; past the bound, the oldest output is
// dropped, replies never are.
//
// # Query mode
//
// The python runtime keeps one interpreter per kernel, started from the
// embedded driver.py (`python3 -u driver.py` in a process group of its
// own), so that state carries over between cells. The driver's pipes:
//
//	fd 0  requests: 4-byte big-endian length, then JSON
//	      {"op":"exec","code"} | {"op":"input","text"} |
//	      {"op":"complete","id","code","line"}
//	fd 3  records: 1-byte kind, 4-byte big-endian length, payload
//	      'o' stdout text, 'e' stderr text (UTF-8, ≤ 1 MiB each),
//	      'i' waiting-input {"is_password"}, 'f' finished {"exitCode"},
//	      'c' completion {"id","suggestions"}
//	fd 1, fd 2  raw output of subprocesses, C code and forked children
//
// The driver replaces sys.stdout/stderr (buffered; flushed every 10-20 ms,
// at 8 KiB, on flush(), before input() and at the end of a cell), input(),
// getpass and sys.stdin. SIGINT becomes KeyboardInterrupt in the cell, but
// never in the middle of the driver's own bookkeeping. A cell's exit code
// is 0, 1 after an uncaught exception (its traceback goes to stderr), or
// SystemExit's code; an interpreter that dies is replaced at the next cell.
// The raw pipes are drained before each record is forwarded, so what a
// subprocess wrote precedes the records the driver wrote after it.
//
// The app runtime runs each cell with `sh -c` in a fresh process group;
// `interrupt` sends SIGINT to the group and `input` writes a line to the
// cell's stdin. Batch steps run the same way with stdin on /dev/null.
package runner
