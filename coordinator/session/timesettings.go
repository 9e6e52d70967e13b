package session

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// timeUnits are the units of PostgreSQL's time settings (those in
// milliseconds: statement_timeout, lock_timeout, deadlock_timeout), as
// multiples of a millisecond, largest first.
var timeUnits = []struct {
	name string
	ms   float64
}{{"d", 86400000}, {"h", 3600000}, {"min", 60000}, {"s", 1000}, {"ms", 1}, {"us", 0.001}}

// parseTimeSetting reads a time setting as PostgreSQL does: a number with
// an optional unit (us, ms, s, min, h, d; none means milliseconds),
// rounded to whole milliseconds.
func parseTimeSetting(v string) (time.Duration, error) {
	ms, err := timeSettingMS(v)
	return time.Duration(ms) * time.Millisecond, err
}

func timeSettingMS(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '-' || s[i] == '+') {
		i++
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, errBadTimeSetting
	}
	unit := strings.TrimSpace(s[i:])
	if unit == "" {
		unit = "ms"
	}
	for _, u := range timeUnits {
		if u.name == unit {
			return int64(math.Round(n * u.ms)), nil
		}
	}
	return 0, errBadTimeUnit
}

var (
	errBadTimeSetting = pgerr.New(pgerr.InvalidParameterValue, "invalid value")
	errBadTimeUnit    = pgerr.New(pgerr.InvalidParameterValue, "invalid unit")
)

// normalizeTimeSetting checks a value for time setting name and returns
// it as SHOW displays it: in the largest unit that divides it ("200ms",
// "1s", "1min"), "0" for zero. deadlock_timeout must be at least 1 ms,
// the others at least 0.
func normalizeTimeSetting(name, v string) (string, error) {
	ms, err := timeSettingMS(v)
	if err == errBadTimeUnit {
		return "", pgerr.New(pgerr.InvalidParameterValue, "invalid value for parameter %q: %q", name, v).
			WithHint(`Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".`)
	}
	if err != nil {
		return "", pgerr.New(pgerr.InvalidParameterValue, "invalid value for parameter %q: %q", name, v)
	}
	lo := int64(0)
	if name == "deadlock_timeout" {
		lo = 1
	}
	if ms < lo || ms > math.MaxInt32 {
		return "", pgerr.New(pgerr.InvalidParameterValue, "%d ms is outside the valid range for parameter %q (%d .. %d)", ms, name, lo, math.MaxInt32)
	}
	if ms == 0 {
		return "0", nil
	}
	for _, u := range timeUnits[:5] {
		if m := int64(u.ms); ms%m == 0 {
			return strconv.FormatInt(ms/m, 10) + u.name, nil
		}
	}
	return strconv.FormatInt(ms, 10) + "ms", nil
}
