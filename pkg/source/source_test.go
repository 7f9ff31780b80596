package source_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/source"
)

// doc is a valid AuthPolicy document named name for host.
func doc(name, host string) string {
	return fmt.Sprintf(`apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata:
  name: %s
  namespace: test
spec:
  hosts: ["%s"]
  rules:
  - name: open
    match: {pathPrefix: /}
    allowAnonymous: true
`, name, host)
}

// typo is doc with a misspelt field: strict decoding must refuse it, because
// silently dropping "requires" would drop a check.
func typo(name string) string {
	return strings.Replace(doc(name, name+".example.com"), "    allowAnonymous: true\n", "    allowAnonymous: true\n    requires: [{claim: sub, exists: true}]\n", 1)
}

func TestParseFile(t *testing.T) {
	tests := map[string]struct {
		data string
		// want lists the policy keys of a good file, in document order.
		want []string
		// wantErr lists substrings of the error of a broken file.
		wantErr []string
	}{
		"single document": {
			data: doc("a", "a.example.com"),
			want: []string{"test/a"},
		},
		"empty file": {
			data: "",
		},
		"only comments": {
			data: "# nothing here yet\n\n   # indented comment\n",
		},
		"multi-document": {
			data: doc("a", "a.example.com") + "---\n" + doc("b", "b.example.com"),
			want: []string{"test/a", "test/b"},
		},
		"leading and trailing separators": {
			data: "---\n" + doc("a", "a.example.com") + "---\n" + doc("b", "b.example.com") + "---\n",
			want: []string{"test/a", "test/b"},
		},
		"comment-only and empty documents": {
			data: "# Policies for team a.\n---\n---\n" + doc("a", "a.example.com") +
				"---\n# b is disabled for now\n# ...\n---\n\n---   # separator with a comment\n" +
				doc("b", "b.example.com") + "---\n---\n",
			want: []string{"test/a", "test/b"},
		},
		"document end marker": {
			data: doc("a", "a.example.com") + "...\n---\n" + doc("b", "b.example.com") + "...\n",
			want: []string{"test/a", "test/b"},
		},
		"CRLF line endings": {
			data: strings.ReplaceAll(doc("a", "a.example.com")+"---\n"+doc("b", "b.example.com"), "\n", "\r\n"),
			want: []string{"test/a", "test/b"},
		},
		"unknown field names file and document": {
			data:    doc("a", "a.example.com") + "---\n" + typo("b"),
			wantErr: []string{"p.yaml: document 2: ", `unknown field "requires"`},
		},
		// Numbers count policies, not separators: comment-only documents are
		// not documents a reader would count.
		"document number skips empty documents": {
			data:    "# header\n---\n" + doc("a", "a.example.com") + "---\n# note\n---\n" + typo("b"),
			wantErr: []string{"p.yaml: document 2: ", `unknown field "requires"`},
		},
		"unknown metadata field": {
			data:    strings.Replace(doc("a", "a.example.com"), "  namespace: test\n", "  namespace: test\n  labelz: {}\n", 1),
			wantErr: []string{"p.yaml: document 1: ", `unknown field "labelz"`},
		},
		"duplicate key": {
			data:    strings.Replace(doc("a", "a.example.com"), "kind: AuthPolicy\n", "kind: AuthPolicy\nkind: AuthPolicy\n", 1),
			wantErr: []string{"p.yaml: document 1: ", `"kind" already set`},
		},
		"wrong apiVersion": {
			data:    strings.Replace(doc("a", "a.example.com"), "authgate.io/v1alpha1", "authgate.io/v1", 1),
			wantErr: []string{"p.yaml: document 1: not an AuthPolicy", `apiVersion "authgate.io/v1"`},
		},
		"wrong kind": {
			data:    doc("a", "a.example.com") + "---\n" + strings.Replace(doc("b", "b.example.com"), "kind: AuthPolicy", "kind: ConfigMap", 1),
			wantErr: []string{"p.yaml: document 2: not an AuthPolicy", `kind "ConfigMap"`},
		},
		"missing apiVersion and kind": {
			data:    "metadata: {name: a}\n",
			wantErr: []string{"p.yaml: document 1: not an AuthPolicy"},
		},
		"not a mapping": {
			data:    "- a\n- b\n",
			wantErr: []string{"p.yaml: document 1: failed to decode AuthPolicy"},
		},
		"invalid YAML": {
			data:    doc("a", "a.example.com") + "---\nspec: [\n",
			wantErr: []string{"p.yaml: document 2: failed to decode AuthPolicy"},
		},
		// The reader meets the bad separator while ending the document
		// before it, so that is the one named.
		"bad separator": {
			data:    doc("a", "a.example.com") + "--- {}\n" + doc("b", "b.example.com"),
			wantErr: []string{"p.yaml: document 1: ", "invalid Yaml document separator"},
		},
		"policy that does not validate": {
			data:    doc("a", "a.example.com") + "---\n" + doc("b", "exa mple.com"),
			wantErr: []string{"p.yaml: document 2: AuthPolicy test/b: spec.hosts[0]: not a valid host"},
		},
		"every broken document is reported": {
			data:    typo("a") + "---\n" + doc("b", "b.example.com") + "---\n" + doc("c", "*."),
			wantErr: []string{"p.yaml: document 1: ", "p.yaml: document 3: AuthPolicy test/c: spec.hosts[0]"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ps, err := source.ParseFile("p.yaml", []byte(tc.data), nil)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("ParseFile succeeded with %v; want an error", keys(ps))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				var fe *source.FileError
				if !errors.As(err, &fe) || fe.File != "p.yaml" || fe.Document == 0 {
					t.Errorf("error does not unwrap to a FileError naming the file and document: %#v", fe)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if got := keys(ps); !slices.Equal(got, tc.want) {
				t.Errorf("policies = %q, want %q", got, tc.want)
			}
		})
	}
}

func keys(ps []*policy.Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key())
	}
	return out
}

// recorder collects what a Folder delivers; Run calls OnUpdate from its own
// goroutine.
type recorder struct {
	mu    sync.Mutex
	last  []string
	calls int
}

func (r *recorder) OnUpdate(ps []*policy.Policy) {
	got := keysAndHosts(ps)
	r.mu.Lock()
	r.last, r.calls = got, r.calls+1
	r.mu.Unlock()
}

func (r *recorder) get() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.calls
}

// waitFor polls until the delivered policies are want. Reloads are
// asynchronous, so the bound is generous; a passing run returns early.
func (r *recorder) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := r.get()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the folder delivers %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keysAndHosts identifies each policy with its first host, so a test can
// tell an updated file from its last good version.
func keysAndHosts(ps []*policy.Policy) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Key()+"@"+p.Hosts[0])
	}
	return out
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFolderLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), doc("a", "a.example.com"))
	write(t, filepath.Join(dir, "b.yml"), doc("b", "b.example.com")+"---\n"+doc("b2", "b2.example.com"))
	write(t, filepath.Join(dir, "team", "nested", "c.yaml"), doc("c", "c.example.com"))
	// Hidden entries are editors' swap files and Kubernetes' ConfigMap
	// internals (..data is a symlink to the current ..2024_* directory):
	// reading them would load every policy twice or parse garbage.
	write(t, filepath.Join(dir, ".a.yaml.swp"), "\x00garbage")
	write(t, filepath.Join(dir, ".hidden.yaml"), typo("hidden"))
	write(t, filepath.Join(dir, "..data", "a.yaml"), doc("a", "a.example.com"))
	write(t, filepath.Join(dir, ".git", "x.yaml"), typo("git"))
	write(t, filepath.Join(dir, "README.md"), "not a policy")
	write(t, filepath.Join(dir, "policy.yaml.bak"), typo("bak"))

	rec := &recorder{}
	f := &source.Folder{Dir: dir, OnUpdate: rec.OnUpdate, Log: logr.Discard()}
	if err := f.Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, _ := rec.get()
	want := []string{"test/a@a.example.com", "test/b@b.example.com", "test/b2@b2.example.com", "test/c@c.example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("first load = %q, want %q", got, want)
	}

	// a.yaml breaks (a typo) while b.yml changes: a keeps its last good
	// version, b's update takes effect, and the error names the file.
	write(t, filepath.Join(dir, "a.yaml"), typo("a"))
	write(t, filepath.Join(dir, "b.yml"), doc("b", "b-new.example.com"))
	err := f.Load()
	if err == nil || !strings.Contains(err.Error(), "a.yaml: document 1:") || !strings.Contains(err.Error(), `unknown field "requires"`) {
		t.Fatalf("Load with a broken a.yaml = %v; want an error naming a.yaml, document 1 and the field", err)
	}
	var fe *source.FileError
	if !errors.As(err, &fe) || fe.File != "a.yaml" {
		t.Errorf("error does not unwrap to a FileError for a.yaml: %#v", fe)
	}
	got, _ = rec.get()
	want = []string{"test/a@a.example.com", "test/b@b-new.example.com", "test/c@c.example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("after breaking a.yaml = %q, want %q", got, want)
	}

	// A file in a nested directory is named by its path relative to Dir.
	write(t, filepath.Join(dir, "team", "nested", "c.yaml"), doc("c", "Bad Host"))
	err = f.Load()
	if err == nil || !strings.Contains(err.Error(), filepath.Join("team", "nested", "c.yaml")+": document 1:") {
		t.Fatalf("Load with a broken nested file = %v; want an error naming team/nested/c.yaml", err)
	}
	got, _ = rec.get()
	if !slices.Equal(got, want) {
		t.Fatalf("after breaking c.yaml = %q, want %q", got, want)
	}

	// Fixing a file replaces its last good version.
	write(t, filepath.Join(dir, "a.yaml"), doc("a", "a-fixed.example.com"))
	write(t, filepath.Join(dir, "team", "nested", "c.yaml"), doc("c", "c.example.com"))
	if err := f.Load(); err != nil {
		t.Fatalf("Load after fixing: %v", err)
	}
	got, _ = rec.get()
	want = []string{"test/a@a-fixed.example.com", "test/b@b-new.example.com", "test/c@c.example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("after fixing = %q, want %q", got, want)
	}

	// Deleting a file removes its policies, and it does not come back when
	// a file of the same name is later broken: there is no last good
	// version of a file that was deleted.
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := f.Load(); err != nil {
		t.Fatalf("Load after delete: %v", err)
	}
	got, _ = rec.get()
	want = []string{"test/b@b-new.example.com", "test/c@c.example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("after deleting a.yaml = %q, want %q", got, want)
	}
	write(t, filepath.Join(dir, "a.yaml"), typo("a"))
	if err := f.Load(); err == nil {
		t.Fatal("Load with a broken new a.yaml succeeded")
	}
	got, _ = rec.get()
	if !slices.Equal(got, want) {
		t.Fatalf("a deleted file's policies came back: %q, want %q", got, want)
	}
}

func TestFolderLoadFirstBroken(t *testing.T) {
	// A file that was never good contributes nothing, and the good files
	// are still delivered.
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), typo("a"))
	write(t, filepath.Join(dir, "b.yaml"), doc("b", "b.example.com"))
	rec := &recorder{}
	f := &source.Folder{Dir: dir, OnUpdate: rec.OnUpdate, Log: logr.Discard()}
	if err := f.Load(); err == nil {
		t.Fatal("Load succeeded with a broken file")
	}
	got, calls := rec.get()
	if calls != 1 || !slices.Equal(got, []string{"test/b@b.example.com"}) {
		t.Fatalf("got %q in %d calls, want only b in 1", got, calls)
	}
}

func TestFolderLoadMissingDir(t *testing.T) {
	rec := &recorder{}
	f := &source.Folder{Dir: filepath.Join(t.TempDir(), "missing"), OnUpdate: rec.OnUpdate, Log: logr.Discard()}
	if err := f.Load(); err == nil {
		t.Fatal("Load of a missing folder succeeded")
	}
	if _, calls := rec.get(); calls != 0 {
		t.Errorf("OnUpdate called %d times for a folder that could not be listed; an empty set would drop every policy", calls)
	}
}

func TestFolderLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml":      {Data: []byte(doc("a", "a.example.com"))},
		"b.yaml":      {Data: []byte(doc("b", "b.example.com"))},
		"notes.txt":   {Data: []byte("not a policy")},
		"sub/c.yaml":  {Data: []byte(doc("c", "c.example.com"))}, // only the top level is embedded samples
		"broken.yaml": {Data: []byte(typo("broken"))},
	}
	rec := &recorder{}
	f := &source.Folder{FS: fsys, OnUpdate: rec.OnUpdate, Log: logr.Discard()}
	err := f.Load()
	if err == nil || !strings.Contains(err.Error(), "broken.yaml: document 1:") {
		t.Fatalf("Load = %v, want an error naming broken.yaml", err)
	}
	got, _ := rec.get()
	if want := []string{"test/a@a.example.com", "test/b@b.example.com"}; !slices.Equal(got, want) {
		t.Fatalf("Load from FS = %q, want %q", got, want)
	}

	// Run on an FS loads once and waits for the context: nothing to watch.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run on an FS did not return within 5s of cancel")
	}
}

func TestFolderRun(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), doc("a", "a.example.com"))

	rec := &recorder{}
	f := &source.Folder{
		Dir: dir, OnUpdate: rec.OnUpdate, Log: logr.Discard(),
		Debounce: 20 * time.Millisecond,
		// Long enough that every reload in this test comes from an fsnotify
		// event, not the safety-net resync.
		Resync: time.Hour,
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	rec.waitFor(t, "test/a@a.example.com")

	// A new file is picked up.
	write(t, filepath.Join(dir, "b.yaml"), doc("b", "b.example.com"))
	rec.waitFor(t, "test/a@a.example.com", "test/b@b.example.com")

	// A change to an existing file is picked up.
	write(t, filepath.Join(dir, "a.yaml"), doc("a", "a2.example.com"))
	rec.waitFor(t, "test/a@a2.example.com", "test/b@b.example.com")

	// A broken file keeps its last good version while other changes land:
	// wait for b's change, then check a is still its last good version.
	write(t, filepath.Join(dir, "a.yaml"), typo("a"))
	write(t, filepath.Join(dir, "b.yaml"), doc("b", "b2.example.com"))
	rec.waitFor(t, "test/a@a2.example.com", "test/b@b2.example.com")

	// Fixing the file makes the fix take effect.
	write(t, filepath.Join(dir, "a.yaml"), doc("a", "a3.example.com"))
	rec.waitFor(t, "test/a@a3.example.com", "test/b@b2.example.com")

	// A directory created after Run started is watched too.
	write(t, filepath.Join(dir, "team", "c.yaml"), doc("c", "c.example.com"))
	rec.waitFor(t, "test/a@a3.example.com", "test/b@b2.example.com", "test/c@c.example.com")
	write(t, filepath.Join(dir, "team", "c.yaml"), doc("c", "c2.example.com"))
	rec.waitFor(t, "test/a@a3.example.com", "test/b@b2.example.com", "test/c@c2.example.com")

	// Deleting a file removes its policies.
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "test/a@a3.example.com", "test/c@c2.example.com")

	// Replacing a file by rename, as editors and ConfigMap updates do.
	tmp := filepath.Join(dir, ".a.yaml.tmp")
	write(t, tmp, doc("a", "a4.example.com"))
	if err := os.Rename(tmp, filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "test/a@a4.example.com", "test/c@c2.example.com")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
}

func TestFolderRunMissingDir(t *testing.T) {
	rec := &recorder{}
	f := &source.Folder{Dir: filepath.Join(t.TempDir(), "missing"), OnUpdate: rec.OnUpdate, Log: logr.Discard()}
	done := make(chan error, 1)
	go func() { done <- f.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run on a missing folder returned nil; want an error so the process does not serve nothing silently")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run on a missing folder did not return")
	}
}

// FuzzParseFile feeds ParseFile arbitrary bytes: policy files are written by
// people and by tools, and a file must never crash the process. Whatever it
// accepts must be a policy the store can take without re-checking.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(doc("a", "a.example.com")))
	f.Add([]byte(doc("a", "a.example.com") + "---\n# c\n---\n---\n" + doc("b", "*.b.example.com")))
	f.Add([]byte(typo("a")))
	f.Add([]byte("---\n...\n--- # x\n"))
	for _, pattern := range []string{"../../config/samples/*.yaml", "../translate/testdata/*.in.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := source.ParseFile("fuzz.yaml", data, nil)
		if err != nil {
			return
		}
		for i, p := range ps {
			if p == nil {
				t.Fatalf("policy %d is nil", i)
			}
			if verr := p.Validate(); verr != nil {
				t.Fatalf("ParseFile accepted policy %d that does not validate: %v", i, verr)
			}
		}
	})
}
