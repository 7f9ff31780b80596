// Package samples embeds the sample AuthPolicies, so `authgate dev` runs
// with them from any directory and tests can prove every sample loads.
package samples

import "embed"

// FS holds every *.yaml sample policy in this folder.
//
//go:embed *.yaml
var FS embed.FS
