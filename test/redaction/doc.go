// Package redaction proves the rule "secrets never reach a log line, a
// metric or a response": it runs authgate in-process with every log line
// captured at the highest verbosity, sends requests carrying distinctive
// tokens, cookies and client secrets through every deny path (and a few
// allow paths) over gRPC and HTTP, and searches the logs, /metrics and every
// response for them.
package redaction
