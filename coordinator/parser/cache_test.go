package parser

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// TestCacheMatchesParser: for statements of one shape with other
// literals, the cached tree must equal what the parser builds.
func TestCacheMatchesParser(t *testing.T) {
	c := NewCache(16)
	queries := []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 5",
		"SELECT abalance FROM pgbench_accounts WHERE aid = 77777",
		"SELECT abalance FROM pgbench_accounts WHERE aid = 3000000000",
		"UPDATE pgbench_accounts SET abalance = abalance + -4567 WHERE aid = 12;",
		"UPDATE pgbench_accounts SET abalance = abalance + -12 WHERE aid = 99",
		"UPDATE pgbench_accounts SET abalance = abalance + 12 WHERE aid = 99",
		"INSERT INTO h (tid, bid, aid, delta, mtime) VALUES (3, 1, 45, -2, CURRENT_TIMESTAMP)",
		"INSERT INTO h (tid, bid, aid, delta, mtime) VALUES (7, 1, 46, -2000, CURRENT_TIMESTAMP)",
		"SELECT * FROM t WHERE s = 'it''s' AND x BETWEEN 1.5 AND 2e3 LIMIT 10",
		"SELECT * FROM t WHERE s = 'plain' AND x BETWEEN 7.25 AND 1e-3 LIMIT 3",
		"SELECT '2024-01-01'::date + 1, 'x'::varchar(10)",
		"SELECT '2025-02-03'::date + 7, 'yy'::varchar(12)",
		"SELECT * FROM t WHERE a IN (1, 2, 3) ORDER BY 1",
		"SELECT * FROM t WHERE a IN (4, 5, 6) ORDER BY 2",
		"BEGIN;",
		"END;",
		"begin isolation level repeatable read",
		"SAVEPOINT s1",
		"ROLLBACK TO SAVEPOINT s1",
		"PREPARE TRANSACTION 'gid-1'",
		"PREPARE TRANSACTION 'gid-2'",
		"COMMIT PREPARED 'gid-1'",
		"COMMIT PREPARED 'gid-2'",
	}
	for round := 0; round < 2; round++ {
		for _, q := range queries {
			got, err := c.Parse(q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			want, err := Parse(q)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(stripLoc(got[0].Node), stripLoc(want[0].Node)) {
				t.Fatalf("%s: cached tree differs\n got %v\nwant %v", q, got[0].Node, want[0].Node)
			}
		}
	}
	if len(c.m) == 0 {
		t.Fatal("nothing was cached")
	}
	for _, q := range []string{"BEGIN;", "END;", "SAVEPOINT s1"} {
		shape, _, _ := lex(q)
		if c.m[shape] == nil {
			t.Errorf("%s was not cached", q)
		}
	}
}

type protoreflectMessage = proto.Message

// stripLoc clears locations, which differ when literal lengths differ.
func stripLoc(n *pg_query.Node) *pg_query.Node {
	c := proto.Clone(n).(*pg_query.Node)
	var walk func(m protoreflectMessage)
	walk = func(m protoreflectMessage) {
		r := m.ProtoReflect()
		if f := r.Descriptor().Fields().ByName("location"); f != nil {
			r.Clear(f)
		}
		if f := r.Descriptor().Fields().ByName("stmt_location"); f != nil {
			r.Clear(f)
		}
		for i := 0; i < r.Descriptor().Fields().Len(); i++ {
			fd := r.Descriptor().Fields().Get(i)
			if fd.Message() == nil || fd.IsMap() || !r.Has(fd) {
				continue
			}
			if fd.IsList() {
				l := r.Get(fd).List()
				for j := 0; j < l.Len(); j++ {
					walk(l.Get(j).Message().Interface())
				}
			} else {
				walk(r.Get(fd).Message().Interface())
			}
		}
	}
	walk(c)
	return c
}

func TestLexRefuses(t *testing.T) {
	for _, q := range []string{
		"SELECT E'a\\n'", "SELECT $$x$$", "SELECT 1; SELECT 2", "SELECT 1 -- c", "SELECT /* c */ 1",
		"SELECT 'a'\n'b'", "SELECT 1abc",
	} {
		if _, _, ok := lex(q); ok {
			t.Errorf("lex accepted %q", q)
		}
	}
}
