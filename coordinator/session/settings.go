package session

import (
	"sort"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/meridian-db/meridian/sql/pgerr"
)

// reported are the parameters PostgreSQL reports to clients at startup and
// on change (GUC_REPORT).
var reported = []string{"server_version", "server_encoding", "client_encoding", "application_name",
	"DateStyle", "IntervalStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings",
	"is_superuser", "session_authorization"}

func defaultSettings(e *Engine) map[string]string {
	return map[string]string{
		"server_version":                      e.cfg.ServerVersion,
		"server_version_num":                  "150000",
		"server_encoding":                     "UTF8",
		"client_encoding":                     "UTF8",
		"application_name":                    "",
		"DateStyle":                           "ISO, MDY",
		"IntervalStyle":                       "postgres",
		"TimeZone":                            "UTC",
		"integer_datetimes":                   "on",
		"standard_conforming_strings":         "on",
		"is_superuser":                        "on",
		"session_authorization":               "",
		"search_path":                         `"$user", public`,
		"transaction_isolation":               "read committed",
		"default_transaction_isolation":       "read committed",
		"default_transaction_read_only":       "off",
		"transaction_read_only":               "off",
		"statement_timeout":                   "0",
		"lock_timeout":                        "0",
		"deadlock_timeout":                    "1s",
		"idle_in_transaction_session_timeout": "0",
		"extra_float_digits":                  "1",
		"max_identifier_length":               "63",
		"client_min_messages":                 "notice",
		"synchronous_commit":                  "on",
		"datestyle":                           "ISO, MDY",
		"timezone":                            "UTC",
		"lc_messages":                         "C",
		"lc_monetary":                         "C",
		"lc_numeric":                          "C",
		"lc_time":                             "C",
		"bytea_output":                        "hex",
		"work_mem":                            "64MB",
		"enable_hashjoin":                     "on",
		"enable_mergejoin":                    "on",
		"enable_nestloop":                     "on",
		"enable_hashagg":                      "on",
		"row_security":                        "on",
		"meridian.txn_mode":                   string(e.cfg.TxnMode),
		"meridian.node_name":                  e.cfg.Name,
	}
}

// canonical maps a setting name to its stored spelling.
func (s *Session) canonical(name string) (string, bool) {
	if _, ok := s.settings[name]; ok {
		return name, true
	}
	for k := range s.settings {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return name, strings.Contains(name, ".")
}

func (s *Session) setting(name string) (string, error) {
	k, ok := s.canonical(name)
	if !ok {
		return "", pgerr.New(pgerr.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	return s.settings[k], nil
}

// ParameterStatus lists the reported parameters.
func (s *Session) ParameterStatus() [][2]string {
	var out [][2]string
	for _, k := range reported {
		v := s.settings[k]
		if k == "session_authorization" && v == "" {
			v = s.user
		}
		out = append(out, [2]string{k, v})
	}
	return out
}

func isReported(name string) bool {
	for _, r := range reported {
		if r == name {
			return true
		}
	}
	return false
}

func argString(n *pg_query.Node) string {
	if c := n.GetAConst(); c != nil {
		switch v := c.Val.(type) {
		case *pg_query.A_Const_Sval:
			return v.Sval.Sval
		case *pg_query.A_Const_Ival:
			return itoa(int64(v.Ival.Ival))
		case *pg_query.A_Const_Fval:
			return v.Fval.Fval
		case *pg_query.A_Const_Boolval:
			if v.Boolval.Boolval {
				return "on"
			}
			return "off"
		}
	}
	if tc := n.GetTypeCast(); tc != nil {
		return argString(tc.Arg)
	}
	return ""
}

// set runs SET / RESET.
func (s *Session) set(v *pg_query.VariableSetStmt, w reportWriter) error {
	switch v.Kind {
	case pg_query.VariableSetKind_VAR_SET_MULTI:
		// SET TRANSACTION ... / SET SESSION CHARACTERISTICS
		return s.setTransaction(v.Name, v.Args)
	case pg_query.VariableSetKind_VAR_RESET_ALL:
		d := defaultSettings(s.e)
		for k, val := range d {
			s.settings[k] = val
		}
		return nil
	}
	name := v.Name
	k, ok := s.canonical(name)
	if !ok {
		return pgerr.New(pgerr.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	switch k {
	case "server_version", "server_version_num", "server_encoding", "integer_datetimes", "max_identifier_length", "is_superuser", "meridian.txn_mode", "meridian.node_name":
		return pgerr.New(pgerr.CantChangeRuntimeParam, "parameter %q cannot be changed", name)
	}
	var val string
	switch v.Kind {
	case pg_query.VariableSetKind_VAR_SET_DEFAULT, pg_query.VariableSetKind_VAR_RESET:
		val = defaultSettings(s.e)[k]
	default:
		var parts []string
		for _, a := range v.Args {
			parts = append(parts, argString(a))
		}
		val = strings.Join(parts, ", ")
	}
	switch k {
	case "client_encoding":
		u := strings.ToUpper(strings.ReplaceAll(val, "-", ""))
		if u != "UTF8" && u != "UNICODE" && u != "SQL_ASCII" {
			return pgerr.New(pgerr.FeatureNotSupported, "client encoding %q is not supported; only UTF8", val)
		}
		val = "UTF8"
	case "transaction_isolation":
		return s.setTransaction("TRANSACTION", []*pg_query.Node{})
	case "default_transaction_isolation":
		val = strings.ToLower(val)
		if _, err := parseIsolation(val); err != nil {
			return err
		}
	case "statement_timeout", "lock_timeout", "deadlock_timeout", "idle_in_transaction_session_timeout":
		var err error
		if val, err = normalizeTimeSetting(k, val); err != nil {
			return err
		}
	}
	s.settings[k] = val
	if isReported(k) && w != nil {
		return w.ParameterStatus(k, val)
	}
	return nil
}

type reportWriter interface {
	ParameterStatus(name, value string) error
}

// showAll lists every setting for SHOW ALL.
func (s *Session) showAll() [][]string {
	keys := make([]string, 0, len(s.settings))
	for k := range s.settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]string, len(keys))
	for i, k := range keys {
		out[i] = []string{k, s.settings[k], ""}
	}
	return out
}

// workMem is the work_mem setting in bytes: each operator's memory budget
// before it spills to disk. A bare number is kilobytes, as in PostgreSQL.
func (s *Session) workMem() (int64, error) {
	v := strings.TrimSpace(s.settings["work_mem"])
	mult := int64(1024)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult || n*mult < 64<<10 {
		return 0, pgerr.New(pgerr.InvalidParameterValue, "invalid value for parameter \"work_mem\": %q", s.settings["work_mem"]).
			WithHint("Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\"; at least 64kB.")
	}
	return n * mult, nil
}

// settingOff reports whether a boolean setting is off (off, false, no, 0
// and their unambiguous prefixes, as PostgreSQL's parse_bool).
func (s *Session) settingOff(name string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(s.settings[name]), "'")) {
	case "off", "of", "false", "f", "fa", "fal", "fals", "no", "n", "0":
		return true
	}
	return false
}
