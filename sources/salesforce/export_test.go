package salesforce

import (
	"strings"
	"testing"
)

func TestCandidateCompleteness(t *testing.T) {
	cases := []struct {
		numbers []int
		problem string
	}{
		{[]int{1}, ""},
		{[]int{1, 2, 3}, ""},
		{[]int{2, 3}, "part 1 is missing"},
		{[]int{1, 3}, "part 2 is missing"},
		{[]int{1, 1, 2}, "part 1 is there twice"},
		{[]int{1, 2, 2}, "part 2 is there twice"},
		{[]int{0, 1}, "part number 0"},
	}
	for _, c := range cases {
		candidate := candidate{name: "WE_x", zip: true}
		for _, n := range c.numbers {
			candidate.parts = append(candidate.parts, part{path: "WE_x_" + string(rune('0'+n)) + ".ZIP", number: n})
		}
		got := candidate.completeness()
		if c.problem == "" && got != "" {
			t.Errorf("parts %v: problem %q, want none", c.numbers, got)
		}
		if c.problem != "" && !strings.Contains(got, c.problem) {
			t.Errorf("parts %v: problem %q, want %q", c.numbers, got, c.problem)
		}
	}
}

func TestPartPatternGroupsNames(t *testing.T) {
	cases := []struct {
		name   string
		group  string
		number string
	}{
		{"WE_00D5g000004XyZaEAK_1.ZIP", "WE_00D5g000004XyZaEAK", "1"},
		{"WE_00D5g000004XyZaEAK_12.zip", "WE_00D5g000004XyZaEAK", "12"},
		{"WE_00D5g000004XyZaEAK_2 (1).ZIP", "WE_00D5g000004XyZaEAK (1)", "2"},
		{"00D5g000004XyZaEAK_3.ZIP", "00D5g000004XyZaEAK", "3"},
	}
	for _, c := range cases {
		m := partPattern.FindStringSubmatch(c.name)
		if m == nil {
			t.Errorf("%s does not match", c.name)
			continue
		}
		if group := m[1] + m[3]; group != c.group || m[2] != c.number {
			t.Errorf("%s: group %q part %s, want %q part %s", c.name, group, m[2], c.group, c.number)
		}
	}
	for _, name := range []string{"backup.zip", "WE_00D5g000004XyZaEAK_1.ZIP.crdownload", "Account.csv"} {
		if partPattern.MatchString(name) {
			t.Errorf("%s matches, want no part number", name)
		}
	}
}
