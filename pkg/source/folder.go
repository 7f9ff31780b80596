// Package source feeds policies to authgate: from a folder of YAML files
// (standalone mode), or from the Kubernetes API (the controller). Each source
// hands complete sets of translated policies to a callback; building and
// publishing the snapshot is the caller's job.
package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/translate"
)

// MaxPolicyFile bounds one policy file; larger files are reported, not read.
const MaxPolicyFile = 8 << 20

// FileError is a problem with one document of one file.
type FileError struct {
	File     string
	Document int // 1-based; 0 for the whole file
	Err      error
}

func (e *FileError) Error() string {
	if e.Document == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s: document %d: %v", e.File, e.Document, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// ParseFile reads the AuthPolicies of one multi-document YAML file and
// translates them. Any error makes the whole file count as broken, so a
// half-saved file never replaces its last good version.
func ParseFile(name string, data []byte, secrets translate.Secrets) ([]*policy.Policy, error) {
	var (
		out  []*policy.Policy
		errs []error
	)
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &FileError{File: name, Document: doc, Err: err})
			break
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			doc--
			continue
		}
		p, err := ParseDocument(raw, secrets)
		if err != nil {
			errs = append(errs, &FileError{File: name, Document: doc, Err: err})
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// ParseDocument decodes and translates one AuthPolicy document. Unknown
// fields are errors: a misspelt "requires" must not silently drop a check.
func ParseDocument(raw []byte, secrets translate.Secrets) (*policy.Policy, error) {
	var ap v1alpha1.AuthPolicy
	if err := yaml.UnmarshalStrict(raw, &ap); err != nil {
		return nil, fmt.Errorf("failed to decode AuthPolicy: %w", err)
	}
	if ap.APIVersion != v1alpha1.GroupVersion.String() || ap.Kind != v1alpha1.Kind {
		return nil, fmt.Errorf("not an AuthPolicy: apiVersion %q, kind %q (want %s, %s)", ap.APIVersion, ap.Kind, v1alpha1.GroupVersion, v1alpha1.Kind)
	}
	p, err := translate.AuthPolicy(&ap, secrets)
	if err != nil {
		return nil, fmt.Errorf("AuthPolicy %s: %w", key(&ap), err)
	}
	return p, nil
}

func key(ap *v1alpha1.AuthPolicy) string {
	if ap.Namespace == "" {
		return ap.Name
	}
	return ap.Namespace + "/" + ap.Name
}

// stripComments drops comment lines and document markers, leaving what would
// make the document non-empty. The YAML reader keeps a "---" line in the next
// document's bytes, so "---" directly followed by "---" arrives as a document
// holding only the marker; that empty document must be skipped, not decoded.
func stripComments(raw []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !docMarker(line) {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// docMarker reports whether line is a "---" or "..." document marker,
// optionally followed by a comment.
func docMarker(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) && !bytes.HasPrefix(line, []byte("...")) {
		return false
	}
	rest := bytes.TrimSpace(line[3:])
	return len(rest) == 0 || rest[0] == '#'
}

// SecretsDir is the folder, below the policies folder, that holds Secrets
// in standalone mode: SecretsDir/<name>/<key> is the key's value.
const SecretsDir = "secrets"

// MaxSecret bounds one secret file.
const MaxSecret = 64 << 10

// DirSecrets resolves SecretKeyRefs from SecretsDir of a file system. The
// namespace is ignored: in standalone mode one folder is one trust domain.
func DirSecrets(fsys fs.FS) translate.Secrets {
	return func(_, name, key string) ([]byte, bool) {
		if !fs.ValidPath(name) || !fs.ValidPath(key) || strings.ContainsRune(name+key, '/') {
			return nil, false
		}
		f, err := fsys.Open(SecretsDir + "/" + name + "/" + key)
		if err != nil {
			return nil, false
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, MaxSecret+1))
		if err != nil || len(data) > MaxSecret {
			return nil, false
		}
		return data, true
	}
}

// policyFiles lists the *.yaml and *.yml files under dir, sorted, skipping
// hidden entries (editors' swap files, Kubernetes' ..data links) and the
// secrets folder.
func policyFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == filepath.Join(dir, SecretsDir) {
			return filepath.SkipDir
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list policies in %s: %w", dir, err)
	}
	sort.Strings(files)
	return files, nil
}

// readPolicyFile reads one file with a size bound.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPolicyFile {
		return nil, fmt.Errorf("larger than %d bytes", MaxPolicyFile)
	}
	return data, nil
}
