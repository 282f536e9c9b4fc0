// Command plot draws a bar chart (SVG) of one metric from `go test -bench`
// output, averaging repeated runs (-count), so results in bench/results/ come
// with a picture that needs no plotting toolchain:
//
//	go run ./bench/plot -in bench/results/registry.txt -metric p99-µs \
//	    -match 'GetSchemaByID|GetConstant' -title 'GET /schemas/ids/{id}, p99' -out bench/results/registry-p99.svg
//
// With -stat median it plots the median of the runs instead, for results
// whose text quotes medians (a single noisy run moves a mean of three).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "", "go test -bench output (required)")
	out := flag.String("out", "", "SVG file to write (required)")
	metric := flag.String("metric", "ns/op", "metric to plot, e.g. ns/op, p99-µs, MB/s")
	match := flag.String("match", ".", "regular expression selecting benchmarks")
	title := flag.String("title", "", "chart title (default: the metric)")
	stat := flag.String("stat", "mean", "how repeated runs combine: mean or median")
	flag.Parse()
	if err := run(*in, *out, *metric, *match, *title, *stat); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(2)
	}
}

type bar struct {
	name  string
	value float64
}

func run(in, out, metric, match, title, stat string) error {
	if in == "" || out == "" {
		return errors.New("-in and -out are required")
	}
	if stat != "mean" && stat != "median" {
		return fmt.Errorf("-stat %q: want mean or median", stat)
	}
	re, err := regexp.Compile(match)
	if err != nil {
		return fmt.Errorf("-match: %w", err)
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	bars, err := parse(f, metric, re, stat)
	if err != nil {
		return err
	}
	if len(bars) == 0 {
		return fmt.Errorf("no benchmark in %s matches %q with metric %s", in, match, metric)
	}
	if title == "" {
		title = metric
	}
	return os.WriteFile(out, []byte(svg(bars, title, metric)), 0o644)
}

// parse combines metric per benchmark name by stat (mean or median), in
// order of first appearance.
func parse(r io.Reader, metric string, re *regexp.Regexp, stat string) ([]bar, error) {
	values := map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || !re.MatchString(fields[0]) {
			continue
		}
		name := strings.TrimPrefix(fields[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i] // drop the GOMAXPROCS suffix
		}
		for i := 2; i+1 < len(fields); i += 2 {
			if fields[i+1] != metric {
				continue
			}
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %s %q: %w", name, metric, fields[i], err)
			}
			if len(values[name]) == 0 {
				order = append(order, name)
			}
			values[name] = append(values[name], v)
		}
	}
	bars := make([]bar, len(order))
	for i, n := range order {
		bars[i] = bar{n, combine(values[n], stat)}
	}
	return bars, sc.Err()
}

// combine returns the mean or the median of vs (the mean of the middle two
// for an even count).
func combine(vs []float64, stat string) float64 {
	if stat == "median" {
		vs = slices.Clone(vs)
		slices.Sort(vs)
		if len(vs)%2 == 1 {
			return vs[len(vs)/2]
		}
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	return sum / float64(len(vs))
}

func svg(bars []bar, title, metric string) string {
	const width, left, barH, gap, top = 760.0, 260.0, 26.0, 10.0, 50.0
	maxV := 0.0
	for _, b := range bars {
		maxV = max(maxV, b.value)
	}
	height := top + float64(len(bars))*(barH+gap) + 20
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="13">`+"\n", width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for i, b := range bars {
		y := top + float64(i)*(barH+gap)
		w := 0.0
		if maxV > 0 {
			w = (width - left - 140) * b.value / maxV
		}
		fmt.Fprintf(&s, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`+"\n", left-8, y+barH*0.7, html.EscapeString(b.name))
		fmt.Fprintf(&s, `<rect x="%.0f" y="%.0f" width="%.1f" height="%.0f" fill="#4a7bd0"/>`+"\n", left, y, w, barH)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.0f">%s %s</text>`+"\n", left+w+6, y+barH*0.7, strconv.FormatFloat(b.value, 'g', 4, 64), html.EscapeString(metric))
	}
	s.WriteString("</svg>\n")
	return s.String()
}
