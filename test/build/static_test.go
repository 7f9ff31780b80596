// Package build checks the release binary: `make build` must give a static,
// reproducible binary with no cgo dependencies, so it runs on a distroless
// or scratch image with nothing but CA certificates beside it.
package build

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func build(t *testing.T, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", out, "github.com/authgate/authgate/cmd/authgate")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
}

func TestStaticReproducibleBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the ELF checks are for Linux builds")
	}
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	build(t, first)
	build(t, second)

	f, err := elf.Open(first)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("the binary is dynamically linked (program header %v)", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries: %v", libs)
	}

	info, err := buildinfo.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" && s.Value != "0" {
			t.Fatalf("built with CGO_ENABLED=%s", s.Value)
		}
		if s.Key == "-trimpath" && s.Value != "true" {
			t.Fatal("built without -trimpath")
		}
	}

	a, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same tree differ: the build is not reproducible")
	}
	if out, err := exec.Command(first, "version").CombinedOutput(); err != nil || !bytes.Contains(out, []byte("authgate test")) {
		t.Fatalf("version: %s, %v", out, err)
	}
}
