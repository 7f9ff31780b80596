package helm

import (
	"fmt"
	"strings"
)

// lineDiff names the first lines where want and got part, with a little
// context: enough to see what changed without a diff library.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		if i < len(w) && i < len(g) && w[i] == g[i] {
			continue
		}
		var b strings.Builder
		for j := max(0, i-3); j < i+4; j++ {
			wl, gl := line(w, j), line(g, j)
			mark := " "
			if wl != gl {
				mark = "!"
			}
			fmt.Fprintf(&b, "%s %4d want: %s\n%s %4d  got: %s\n", mark, j+1, wl, mark, j+1, gl)
		}
		return b.String()
	}
	return "(no line differs)"
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<end>"
}
