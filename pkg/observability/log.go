package observability

import (
	"fmt"
	"io"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Log keys, defined once so every line uses the same names.
const (
	KeyHost          = "host"
	KeyMethod        = "method"
	KeyPath          = "path"
	KeyPolicy        = "policy"
	KeyRule          = "rule"
	KeyAuthenticator = "authenticator"
	KeyDecision      = "decision"
	KeyReason        = "reason"
	KeyStatus        = "status"
	KeyRequestID     = "requestId"
	KeyTransport     = "transport"
	KeySubject       = "subject"
	KeyDetail        = "detail"
	KeyLatency       = "latency"
)

// LogConfig configures NewLogger.
type LogConfig struct {
	// Development selects human-readable console output (authgate dev);
	// production logs JSON.
	Development bool
	// Level is debug, info or error, or a number: V(n) lines are logged when
	// n <= the verbosity. Denials log at info, allowed requests at V(1).
	Level string
	// Output receives the log lines; default os.Stderr.
	Output io.Writer
}

// NewLogger returns a logr.Logger backed by zap.
func NewLogger(cfg LogConfig) (logr.Logger, error) {
	log, _, err := NewLoggerWithLevel(cfg)
	return log, err
}

// NewLoggerWithLevel is NewLogger that also returns the logger's level, which
// stays changeable while the process runs (see LevelHandler).
func NewLoggerWithLevel(cfg LogConfig) (logr.Logger, zap.AtomicLevel, error) {
	lvl, err := parseLevel(cfg.Level)
	if err != nil {
		return logr.Discard(), zap.AtomicLevel{}, err
	}
	atomic := zap.NewAtomicLevelAt(lvl)
	opts := []crzap.Opts{crzap.UseDevMode(cfg.Development), crzap.Level(atomic)}
	if cfg.Output != nil {
		opts = append(opts, crzap.WriteTo(cfg.Output))
	}
	return crzap.New(opts...), atomic, nil
}

func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "", "info":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 || n > 10 {
		return 0, fmt.Errorf("log level %q: want debug, info, error or 0-10", s)
	}
	// logr's V(n) is zap level -n.
	return zapcore.Level(-n), nil
}
