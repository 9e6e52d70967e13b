package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// CommitStep is a step of an automatic two-phase commit (commitGroups),
// where TestingKnobs.TwoPhase is called.
type CommitStep int

const (
	// StepBeforePrepare: PREPARE is about to be sent to group, a
	// participant other than the primary (the primary is not prepared: it
	// commits once the others are).
	StepBeforePrepare CommitStep = iota + 1
	// StepPrepared: group, a participant other than the primary, prepared.
	StepPrepared
	// StepAllPrepared: every participant but the primary prepared; the
	// primary's COMMIT (which takes the CSN) not sent yet.
	StepAllPrepared
	// StepPrimaryCommitted: the primary (group) committed: the decision.
	StepPrimaryCommitted
	// StepBeforeCommit: COMMIT is about to be sent to group, a participant
	// other than the primary.
	StepBeforeCommit
	// StepCommitted: group, a participant other than the primary, committed.
	StepCommitted
)

var stepNames = map[CommitStep]string{
	StepBeforePrepare:    "before-prepare",
	StepPrepared:         "prepared",
	StepAllPrepared:      "all-prepared",
	StepPrimaryCommitted: "primary-committed",
	StepBeforeCommit:     "before-commit",
	StepCommitted:        "committed",
}

func (s CommitStep) String() string {
	if n, ok := stepNames[s]; ok {
		return n
	}
	return fmt.Sprintf("CommitStep(%d)", int(s))
}

// ParseCommitStep parses a step's name (as String prints it).
func ParseCommitStep(name string) (CommitStep, error) {
	for s, n := range stepNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown commit step %q", name)
}

// TestingKnobs are hooks for tests (after CockroachDB's
// pkg/base/testing_knobs.go); production leaves them nil.
type TestingKnobs struct {
	// TwoPhase is called at each step of an automatic two-phase commit
	// with the transaction and, for per-participant steps, the datanode
	// group (0 otherwise). Returning an error stops the commit right there
	// as if the coordinator had died: nothing more is sent to any datanode
	// (no abort either) and the client gets 08006. It may also block, or
	// kill datanodes, to place a failure between two steps; in process
	// mode the coordinator binary can exit there instead (see
	// coordinator/main.go, MERIDIAN_TESTING_CRASH_AT).
	TwoPhase func(ctx context.Context, step CommitStep, gxid uint64, group uint32) error
}

// errHalted marks a commit stopped by TestingKnobs.TwoPhase.
var errHalted = errors.New("two-phase commit halted by a testing knob")

// knob calls TestingKnobs.TwoPhase, if any.
func (e *Engine) knob(ctx context.Context, step CommitStep, gxid uint64, group uint32) error {
	k := e.cfg.Knobs
	if k == nil || k.TwoPhase == nil {
		return nil
	}
	if err := k.TwoPhase(ctx, step, gxid, group); err != nil {
		return pgerr.Wrap(errors.Join(errHalted, err), pgerr.ConnectionFailure, "coordinator stopped at %s of transaction %d", step, gxid)
	}
	return nil
}

// CrashKnobs returns knobs that call exit at one step of every automatic
// two-phase commit: spec is a step's name, optionally ":group" to stop
// only at that datanode group's per-participant step ("prepared:2"). The
// coordinator binary installs them from MERIDIAN_TESTING_CRASH_AT, for
// tests that kill it at a chosen point of a commit.
func CrashKnobs(spec string, exit func(step CommitStep, gxid uint64, group uint32)) (*TestingKnobs, error) {
	name, groupText, _ := strings.Cut(spec, ":")
	step, err := ParseCommitStep(name)
	if err != nil {
		return nil, err
	}
	var group uint64
	if groupText != "" {
		if group, err = strconv.ParseUint(groupText, 10, 32); err != nil {
			return nil, fmt.Errorf("crash step %q: bad group: %w", spec, err)
		}
	}
	return &TestingKnobs{TwoPhase: func(_ context.Context, s CommitStep, gxid uint64, g uint32) error {
		if s == step && (group == 0 || uint32(group) == g) {
			exit(s, gxid, g)
		}
		return nil
	}}, nil
}
