// Package pgerr attaches PostgreSQL SQLSTATE codes to Go errors.
//
// An error gets its code where it is made (pgerr.New, pgerr.Wrap) and keeps
// it through fmt.Errorf("...: %w") wrapping; pgerr.Code finds it with
// errors.As. Errors that cross gRPC are mapped once at each boundary with
// ToStatus / FromStatus so that a datanode's 23505 reaches the client as
// 23505.
package pgerr

import (
	"errors"
	"fmt"
)

// SQLSTATE codes used across Meridian.
const (
	SuccessfulCompletion         = "00000"
	FeatureNotSupported          = "0A000"
	SyntaxError                  = "42601"
	UndefinedTable               = "42P01"
	UndefinedColumn              = "42703"
	UndefinedObject              = "42704"
	UndefinedFunction            = "42883"
	AmbiguousFunction            = "42725"
	UndefinedSchema              = "3F000"
	DuplicateTable               = "42P07"
	DuplicateObject              = "42710"
	DuplicateSchema              = "42P06"
	DuplicateColumn              = "42701"
	DuplicateAlias               = "42712"
	AmbiguousColumn              = "42702"
	DatatypeMismatch             = "42804"
	GroupingError                = "42803"
	InvalidColumnReference       = "42P10"
	InvalidTableDefinition       = "42P16"
	InvalidParameterValue        = "22023"
	UniqueViolation              = "23505"
	NotNullViolation             = "23502"
	CheckViolation               = "23514"
	DivisionByZero               = "22012"
	NumericValueOutOfRange       = "22003"
	InvalidTextRepresentation    = "22P02"
	InvalidDatetimeFormat        = "22007"
	DatetimeFieldOverflow        = "22008"
	StringDataRightTruncation    = "22001"
	InvalidBinaryRepresentation  = "22P03"
	BadCopyFileFormat            = "22P04"
	InvalidEscapeSequence        = "22025"
	ProtocolViolation            = "08P01"
	ConnectionFailure            = "08006"
	InvalidAuthorization         = "28000"
	InvalidPassword              = "28P01"
	InvalidCatalogName           = "3D000"
	InvalidPreparedStatement     = "26000"
	InvalidCursorName            = "34000"
	DuplicatePreparedStatement   = "42P05"
	InFailedTransaction          = "25P02"
	ActiveSQLTransaction         = "25001"
	NoActiveSQLTransaction       = "25P01"
	ReadOnlySQLTransaction       = "25006"
	SerializationFailure         = "40001"
	DeadlockDetected             = "40P01"
	LockNotAvailable             = "55P03"
	QueryCanceled                = "57014"
	AdminShutdown                = "57P01"
	ProgramLimitExceeded         = "54000"
	TooManyConnections           = "53300"
	OutOfMemory                  = "53200"
	CardinalityViolation         = "21000"
	WrongObjectType              = "42809"
	WindowingError               = "42P20"
	InvalidSchemaDefinition      = "42P15"
	DependentObjectsStillExist   = "2BP01"
	InternalError                = "XX000"
	IOError                      = "58030"
	DataCorrupted                = "XX001"
	UndefinedParameter           = "42704"
	CantChangeRuntimeParam       = "55P02"
	ObjectNotInPrerequisiteState = "55000"
)

// SQLSTATEs of sequences and identity columns.
const (
	SequenceGeneratorLimitExceeded = "2200H"
	GeneratedAlways                = "428C9"
	InvalidName                    = "42602"
)

// Error is an error with a SQLSTATE and optional detail and hint.
type Error struct {
	Code     string
	Message  string
	Detail   string
	Hint     string
	Severity string // "ERROR" when empty; "FATAL" for connection-ending errors
	cause    error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the wrapped cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// New makes an error with a code.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a code to err, keeping err as the cause and its text as the
// message (prefixed by the formatted context when format is not empty).
func Wrap(err error, code, format string, args ...any) *Error {
	msg := err.Error()
	if format != "" {
		msg = fmt.Sprintf(format, args...) + ": " + msg
	}
	return &Error{Code: code, Message: msg, cause: err}
}

// WithDetail sets the detail and returns e.
func (e *Error) WithDetail(format string, args ...any) *Error {
	e.Detail = fmt.Sprintf(format, args...)
	return e
}

// WithHint sets the hint and returns e.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// Unsupported is the 0A000 error for a feature Meridian does not have yet.
func Unsupported(feature string) *Error {
	return New(FeatureNotSupported, "%s is not supported", feature)
}

// Code returns the SQLSTATE of err: the innermost *Error's code, or XX000.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return InternalError
}

// As returns err as an *Error, turning any other error into an internal one.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: InternalError, Message: err.Error(), cause: err}
}
