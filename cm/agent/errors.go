package agent

import "errors"

// ErrInvalidConfig marks errors of Config.Validate.
var ErrInvalidConfig = errors.New("invalid cm agent config")
