package samples_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/authgate/authgate/config/samples"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/pkg/translate"
)

// The samples are documentation that runs: README and `authgate dev` point
// people at them, so a sample that no longer loads is a bug, whichever of the
// API, the translation or the sample changed.

func TestEmbeddedSamplesLoad(t *testing.T) {
	names, err := fs.Glob(samples.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("samples.FS embeds no *.yaml")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := fs.ReadFile(samples.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			checkSample(t, name, data, source.DirSecrets(samples.FS))
		})
	}
}

func TestSamplesOnDiskLoad(t *testing.T) {
	// Also read from disk: `authgate check --policies config/samples` reads
	// the folder, which may hold files the embed pattern does not match.
	paths, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("*.yml")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, more...)
	if len(paths) == 0 {
		t.Fatal("no *.yaml in config/samples")
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkSample(t, path, data, source.DirSecrets(os.DirFS(".")))
		})
	}
}

func checkSample(t *testing.T, name string, data []byte, secrets translate.Secrets) {
	t.Helper()
	ps, err := source.ParseFile(name, data, secrets)
	if err != nil {
		t.Fatalf("sample does not load: %v", err)
	}
	if len(ps) == 0 {
		t.Fatal("sample holds no AuthPolicy")
	}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			t.Errorf("policy %s does not validate: %v", p.Key(), err)
		}
	}
}

// TestSamplesFolder loads the samples the way `authgate dev` does (a Folder
// over the embedded FS) and the way `authgate check --policies config/samples`
// does (a Folder over the directory), and expects the same policies.
func TestSamplesFolder(t *testing.T) {
	var all []*policy.Policy
	load := func(f *source.Folder) []string {
		t.Helper()
		var got []string
		f.OnUpdate = func(ps []*policy.Policy) {
			all = ps
			for _, p := range ps {
				got = append(got, p.Key())
			}
		}
		if err := f.Load(); err != nil {
			t.Fatalf("Load: %v", err)
		}
		return got
	}
	onDisk := load(&source.Folder{Dir: "."})
	embedded := load(&source.Folder{FS: samples.FS})
	if len(embedded) == 0 {
		t.Fatal("the embedded samples hold no policies")
	}
	if !slices.Equal(embedded, onDisk) {
		t.Errorf("embedded samples give %q, the folder gives %q", embedded, onDisk)
	}
	// Policies that claim the same host would be rejected by the store,
	// leaving `authgate dev` without one of them.
	owner := map[string]string{}
	for _, p := range all {
		for _, h := range p.Hosts {
			if prev, ok := owner[h]; ok {
				t.Errorf("host %s is claimed by %s and %s", h, prev, p.Key())
			}
			owner[h] = p.Key()
		}
	}
}
