// Package samples embeds the sample AuthPolicies, so `authgate dev` runs
// with them from any directory and tests can prove every sample loads.
package samples

import "embed"

// FS holds every *.yaml sample policy in this folder, and the secrets/
// folder they reference (standalone mode reads Secrets from there).
//
//go:embed *.yaml secrets
var FS embed.FS
