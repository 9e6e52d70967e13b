package health

import (
	"strings"

	"github.com/meridian-db/meridian/internal/meta"
)

// OK is the value of a healthy node.
const OK = "ok"

const downPrefix = "down: "

// Prefix is /meridian/<cluster>/health/.
func Prefix(keys meta.Keys) string { return keys.Prefix() + "health/" }

// Key is /meridian/<cluster>/health/<node>.
func Key(keys meta.Keys, node string) string { return Prefix(keys) + node }

// Down is the value of a node that failed its probe for reason.
func Down(reason string) string { return downPrefix + reason }

// Parse reads a health value: ok, or the reason the node is down. A value
// that is neither is reported down with the value as reason.
func Parse(v string) (ok bool, reason string) {
	if v == OK {
		return true, ""
	}
	if r, found := strings.CutPrefix(v, downPrefix); found {
		return false, r
	}
	return false, "unrecognised health value " + v
}
