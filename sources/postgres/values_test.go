package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/atlas-sync/atlas-sync/sources"
)

func TestConvertFloat(t *testing.T) {
	cases := []struct {
		text    string
		bitSize int
		want    string
	}{
		{"0.1", 64, "0.1"},
		{"0.10000000000000001", 64, "0.1"},
		{"0.100000001", 32, "0.1"},
		{"-0", 64, "-0"},
		{"1234567", 64, "1234567"},
		{"1e+20", 64, "100000000000000000000"},
		{"1e+21", 64, "1e+21"},
		{"1e-07", 64, "0.0000001"},
		{"9.99e-08", 64, "9.99e-08"},
		{"1.7976931348623157e+308", 64, "1.7976931348623157e+308"},
		{"3.40282347e+38", 32, "3.4028235e+38"},
		{"Infinity", 64, "Infinity"},
		{"-Infinity", 32, "-Infinity"},
		{"NaN", 64, "NaN"},
	}
	for _, c := range cases {
		got, err := convertFloat(c.text, c.bitSize)
		if err != nil {
			t.Errorf("convertFloat(%q, %d): %v", c.text, c.bitSize, err)
			continue
		}
		if got != c.want {
			t.Errorf("convertFloat(%q, %d) = %q, want %q", c.text, c.bitSize, got, c.want)
		}
	}
}

func TestConvertScalarServerForms(t *testing.T) {
	cases := []struct {
		oid  uint32
		text string
		want string
	}{
		{pgtype.BoolOID, "t", "true"},
		{pgtype.BoolOID, "f", "false"},
		{pgtype.TimestamptzOID, "2024-03-01 09:30:00+00", "2024-03-01T09:30:00Z"},
		{pgtype.TimestamptzOID, "2024-03-01 09:30:00.123456+00", "2024-03-01T09:30:00.123456Z"},
		{pgtype.TimestamptzOID, "infinity", "infinity"},
		{pgtype.TimestamptzOID, "0044-03-15 00:00:00+00 BC", "0044-03-15 00:00:00+00 BC"},
		{pgtype.TimestampOID, "2024-03-01 09:30:00.5", "2024-03-01T09:30:00.5"},
		{pgtype.TimestampOID, "-infinity", "-infinity"},
		{pgtype.NumericOID, "12345678901234567.89", "12345678901234567.89"},
		{pgtype.TextOID, " padded ", " padded "},
	}
	for _, c := range cases {
		got, err := convertScalar(c.oid, c.text)
		if err != nil {
			t.Errorf("convertScalar(%d, %q): %v", c.oid, c.text, err)
			continue
		}
		if got != c.want {
			t.Errorf("convertScalar(%d, %q) = %q, want %q", c.oid, c.text, got, c.want)
		}
	}
	if _, err := convertScalar(pgtype.BoolOID, "yes"); err == nil {
		t.Error("convertScalar(bool, yes) succeeded, want an error")
	}
}

// typeColumns creates a table with one column of each supported type in
// the test schema.
const typeColumns = `
	id integer PRIMARY KEY,
	t text, vc varchar(20), ch char(3),
	i2 smallint, i4 integer, i8 bigint,
	num numeric, num2 numeric(20,2),
	r real, d double precision,
	b boolean,
	dt date, ts timestamp, tstz timestamptz, tm time, iv interval,
	u uuid, j json, jb jsonb, by bytea,
	tags text[], vtags varchar(10)[], ints integer[], bools boolean[], stamps timestamptz[],
	grid text[][], tier %[1]s.tier, tiers %[1]s.tier[], email %[1]s.email`

func TestTypesBoundariesAndNulls(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TYPE " + db.schema + ".tier AS ENUM ('gold', 'silver')")
	db.exec("CREATE DOMAIN " + db.schema + ".email AS text CHECK (VALUE LIKE '%@%')")
	db.exec("CREATE TABLE " + db.name("types") + " (" + strings.ReplaceAll(typeColumns, "%[1]s", db.schema) + ")")
	db.exec(`INSERT INTO ` + db.name("types") + ` VALUES
		(1, '', 'v', 'ab',
		 -32768, -2147483648, -9223372036854775808,
		 -12345678901234567.89, 0.00,
		 -3.4028235e38, -1.7976931348623157e308,
		 false,
		 '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', '00:00:00', '-1 day',
		 '00000000-0000-0000-0000-000000000000', '{"plan": {"tier": "gold"}, "n": 12345678901234567890}',
		 '{"plan": {"tier": "gold"}, "n": 12345678901234567890}', '\x',
		 '{}', '{}', '{}', '{}', '{}',
		 '{}', 'gold', '{}', 'a@example.com'),
		(2, E'Zoë 名前\nline "two"', 'varchar max len ok', 'xyz',
		 32767, 2147483647, 9223372036854775807,
		 12345678901234567.89, 123456789012345678.90,
		 3.4028235e38, 1.7976931348623157e308,
		 true,
		 '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', '23:59:59.999999', '1 year 2 mons 3 days 04:05:06.5',
		 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '[1, 2.50, "x"]',
		 '[1, 2.50, "x"]', '\xdeadbeef',
		 '{a,"b c","d,e","quote\"d",NULL,"NULL",""}', '{x,y}', '{1,-2,NULL}', '{t,f}', '{"2024-03-01 10:30:00+01:30",infinity}',
		 '{{a,b},{c,d}}', 'silver', '{gold,silver}', 'b@example.com'),
		(3, 'specials', NULL, NULL,
		 0, 0, 0,
		 'NaN', NULL,
		 'NaN', 'Infinity',
		 NULL,
		 'infinity', '-infinity', 'infinity', NULL, NULL,
		 NULL, 'null', '"just a string"', NULL,
		 NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL),
		(4, 'fractions and offsets', NULL, NULL,
		 NULL, NULL, NULL,
		 0.1, 1.5,
		 0.1, 0.1,
		 NULL,
		 '0044-03-15 BC', '2024-03-01 09:30:00.5', '2024-03-01 10:30:00.5+01:30', NULL, NULL,
		 NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL),
		(5, NULL, NULL, NULL,
		 NULL, NULL, NULL,
		 NULL, NULL,
		 NULL, NULL,
		 NULL,
		 NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL)`)

	src := db.open(Options{Table: db.name("types"), KeyColumn: "id"}, sources.OpenOptions{})
	rows := readAll(t, src)
	if len(rows) != 5 {
		t.Fatalf("read %d rows, want 5", len(rows))
	}
	byID := make(map[string]map[string]sources.Value)
	for _, row := range rows {
		byID[row["id"].Text] = row
	}

	text := func(s string) sources.Value { return sources.Value{Text: s} }
	list := func(s ...string) sources.Value {
		if s == nil {
			s = []string{} // an empty array is an empty list, not NULL
		}
		return sources.Value{List: s}
	}
	null := sources.Value{Null: true}
	want := map[string]map[string]sources.Value{
		"1": {
			"t": text(""), "vc": text("v"), "ch": text("ab "),
			"i2": text("-32768"), "i4": text("-2147483648"), "i8": text("-9223372036854775808"),
			"num": text("-12345678901234567.89"), "num2": text("0.00"),
			"r": text("-3.4028235e+38"), "d": text("-1.7976931348623157e+308"),
			"b":  text("false"),
			"dt": text("0001-01-01"), "ts": text("0001-01-01T00:00:00"), "tstz": text("0001-01-01T00:00:00Z"),
			"tm": text("00:00:00"), "iv": text("-1 days"),
			"u":    text("00000000-0000-0000-0000-000000000000"),
			"j":    text(`{"plan": {"tier": "gold"}, "n": 12345678901234567890}`),
			"jb":   text(`{"n": 12345678901234567890, "plan": {"tier": "gold"}}`),
			"by":   text(`\x`),
			"tags": list(), "vtags": list(), "ints": list(), "bools": list(), "stamps": list(),
			"grid": list(), "tier": text("gold"), "tiers": list(), "email": text("a@example.com"),
		},
		"2": {
			"t": text("Zoë 名前\nline \"two\""), "vc": text("varchar max len ok"), "ch": text("xyz"),
			"i2": text("32767"), "i4": text("2147483647"), "i8": text("9223372036854775807"),
			"num": text("12345678901234567.89"), "num2": text("123456789012345678.90"),
			"r": text("3.4028235e+38"), "d": text("1.7976931348623157e+308"),
			"b":  text("true"),
			"dt": text("9999-12-31"), "ts": text("9999-12-31T23:59:59.999999"), "tstz": text("9999-12-31T23:59:59.999999Z"),
			"tm": text("23:59:59.999999"), "iv": text("1 year 2 mons 3 days 04:05:06.5"),
			"u":      text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
			"j":      text(`[1, 2.50, "x"]`),
			"jb":     text(`[1, 2.50, "x"]`),
			"by":     text(`\xdeadbeef`),
			"tags":   list("a", "b c", "d,e", `quote"d`, "NULL", ""),
			"vtags":  list("x", "y"),
			"ints":   list("1", "-2"),
			"bools":  list("true", "false"),
			"stamps": list("2024-03-01T09:00:00Z", "infinity"),
			"grid":   list("a", "b", "c", "d"),
			"tier":   text("silver"), "tiers": list("gold", "silver"), "email": text("b@example.com"),
		},
		"3": {
			"t": text("specials"), "vc": null, "ch": null,
			"i2": text("0"), "i4": text("0"), "i8": text("0"),
			"num": text("NaN"), "num2": null,
			"r": text("NaN"), "d": text("Infinity"),
			"b":  null,
			"dt": text("infinity"), "ts": text("-infinity"), "tstz": text("infinity"),
			"j": text("null"), "jb": text(`"just a string"`),
			"tags": null, "grid": null, "tier": null, "tiers": null, "email": null,
		},
		"4": {
			"num": text("0.1"), "num2": text("1.50"),
			"r": text("0.1"), "d": text("0.1"),
			"dt": text("0044-03-15 BC"), "ts": text("2024-03-01T09:30:00.5"), "tstz": text("2024-03-01T09:00:00.5Z"),
		},
		"5": {
			"t": null, "i8": null, "num": null, "r": null, "d": null, "b": null, "dt": null, "ts": null,
			"tstz": null, "u": null, "j": null, "jb": null, "by": null, "tags": null, "ints": null,
		},
	}
	for id, columns := range want {
		got, ok := byID[id]
		if !ok {
			t.Errorf("row id=%s missing", id)
			continue
		}
		for name, wantValue := range columns {
			if !reflect.DeepEqual(got[name], wantValue) {
				t.Errorf("id=%s column %s = %#v, want %#v", id, name, got[name], wantValue)
			}
		}
	}
}

func TestCitextAndCitextArray(t *testing.T) {
	db := newTestDB(t)
	if _, err := db.admin.Exec(context.Background(), "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA "+db.schema); err != nil {
		t.Skipf("the citext extension is not installed on the test server (postgresql-contrib): %v", err)
	}
	db.exec("CREATE TABLE " + db.name("accounts") + " (id int, email " + db.schema + ".citext, aliases " + db.schema + ".citext[])")
	db.exec("INSERT INTO " + db.name("accounts") + ` VALUES (1, 'Ops@Example.COM', '{"A@x.example","b@X.example"}'), (2, NULL, NULL)`)

	src := db.open(Options{Table: db.name("accounts")}, sources.OpenOptions{})
	rows := readAll(t, src)
	if len(rows) != 2 {
		t.Fatalf("read %d rows, want 2", len(rows))
	}
	if got := rows[0]["email"]; !reflect.DeepEqual(got, sources.Value{Text: "Ops@Example.COM"}) {
		t.Errorf("email = %#v, want the text as stored", got)
	}
	if got := rows[0]["aliases"].List; !reflect.DeepEqual(got, []string{"A@x.example", "b@X.example"}) {
		t.Errorf("aliases = %#v, want a two-element list", got)
	}
	if !rows[1]["email"].Null || !rows[1]["aliases"].Null {
		t.Errorf("row 2 = %#v, want NULL email and aliases", rows[1])
	}
}
