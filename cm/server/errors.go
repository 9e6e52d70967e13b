package server

import "errors"

var (
	// ErrInvalidConfig marks errors of Config.Validate.
	ErrInvalidConfig = errors.New("invalid cm server config")
	// ErrDuplicateNum marks two datanodes claiming one number; cluster
	// init waits until one of them leaves.
	ErrDuplicateNum = errors.New("two datanodes have the same num")
	// errLostLeadership is returned by leader work when the election key
	// is no longer this server's.
	errLostLeadership = errors.New("lost cm leadership")
)
