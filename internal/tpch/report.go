package tpch

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteReport prints the outcomes as a table: per query the time on each
// target in seconds, with two targets the ratio of the first to the
// second and whether the results agree, and a total over the queries that
// ran everywhere; then every error and difference. markdown selects a
// Markdown table instead of aligned text.
func WriteReport(w io.Writer, targets []Target, outs []Outcome, markdown bool) {
	head := []string{"query"}
	for _, t := range targets {
		head = append(head, t.Name+" (s)")
	}
	two := len(targets) == 2
	if two {
		head = append(head, targets[0].Name+" / "+targets[1].Name, "result")
	} else {
		head = append(head, "rows")
	}
	rss := false
	for _, o := range outs {
		rss = rss || o.PeakRSS != nil || o.RSSErr != nil
	}
	if rss {
		head = append(head, "peak RSS (MB)", "growth (MB)")
	}
	rows := [][]string{head}
	totals := make([]time.Duration, len(targets))
	counted := 0
	var notes []string
	for _, o := range outs {
		row := []string{o.Query.String()}
		ok := true
		for i, t := range targets {
			if o.Errs[i] != nil {
				row = append(row, "error")
				notes = append(notes, fmt.Sprintf("%v on %s: %s", o.Query, t.Name, Describe(o.Errs[i])))
				ok = false
				continue
			}
			row = append(row, seconds(o.Times[i]))
		}
		switch {
		case two && ok:
			row = append(row, ratio(o.Times[0], o.Times[1]), okOrDiff(o.Diff))
		case two:
			row = append(row, "", "error")
		case ok:
			row = append(row, fmt.Sprint(len(o.Results[0].Rows)))
		default:
			row = append(row, "")
		}
		if rss {
			var growth []int64
			if len(o.StartRSS) == len(o.PeakRSS) {
				for j := range o.PeakRSS {
					growth = append(growth, o.PeakRSS[j]-o.StartRSS[j])
				}
			}
			row = append(row, formatRSS(o.PeakRSS), formatRSS(growth))
			if o.RSSErr != nil {
				notes = append(notes, fmt.Sprintf("%v: %v", o.Query, o.RSSErr))
			}
		}
		if o.Diff != nil {
			notes = append(notes, fmt.Sprintf("%v: %s and %s differ: %s", o.Query, targets[0].Name, targets[1].Name,
				strings.TrimPrefix(o.Diff.Error(), o.Query.String()+": ")))
		}
		if ok {
			counted++
			for i := range targets {
				totals[i] += o.Times[i]
			}
		}
		rows = append(rows, row)
	}
	total := []string{fmt.Sprintf("total (%d of %d)", counted, len(outs))}
	for _, d := range totals {
		total = append(total, seconds(d))
	}
	if two {
		total = append(total, ratio(totals[0], totals[1]), "")
	} else {
		total = append(total, "")
	}
	if rss {
		var peak []int64
		for _, o := range outs {
			for j, v := range o.PeakRSS {
				if j >= len(peak) {
					peak = append(peak, 0)
				}
				peak[j] = max(peak[j], v)
			}
		}
		total = append(total, formatRSS(peak), "")
	}
	rows = append(rows, total)

	if markdown {
		for i, r := range rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
			if i == 0 {
				fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(r)))
			}
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t\n", strings.Join(r, "\t"))
		}
		tw.Flush()
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func okOrDiff(diff error) string {
	if diff != nil {
		return "DIFF"
	}
	return "OK"
}
