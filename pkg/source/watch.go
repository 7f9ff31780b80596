package source

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/translate"
)

// Folder reads policies from a directory and re-reads it when it changes.
// Each file keeps its last good version: a file that fails to parse or
// validate (an editor's half-save, a typo) is reported and its previous
// policies stay in force until it is fixed.
type Folder struct {
	// Dir is the folder to read.
	Dir string
	// FS, when set, is read instead of Dir and never watched (embedded
	// sample policies).
	FS fs.FS
	// OnUpdate receives every complete set of policies, in file order.
	OnUpdate func([]*policy.Policy)
	// Log receives reload errors.
	Log logr.Logger
	// Debounce groups bursts of file events; default 100ms.
	Debounce time.Duration
	// Resync re-reads the folder on this interval even without events, in
	// case events are lost (network file systems); default 30s.
	Resync time.Duration

	lastGood map[string][]*policy.Policy
}

// Load reads the folder once and calls OnUpdate. It returns the errors of
// broken files; the policies of good files are delivered regardless.
func (f *Folder) Load() error {
	if f.lastGood == nil {
		f.lastGood = map[string][]*policy.Policy{}
	}
	var (
		files   []string
		err     error
		read    func(string) ([]byte, error)
		secrets translate.Secrets
	)
	if f.FS != nil {
		files, err = fs.Glob(f.FS, "*.yaml")
		read = func(name string) ([]byte, error) { return fs.ReadFile(f.FS, name) }
		secrets = DirSecrets(f.FS)
	} else {
		files, err = policyFiles(f.Dir)
		read = readPolicyFile
		secrets = DirSecrets(os.DirFS(f.Dir))
	}
	if err != nil {
		return err
	}
	var (
		all  []*policy.Policy
		errs []error
		seen = map[string]bool{}
	)
	for _, file := range files {
		seen[file] = true
		name := file
		if f.FS == nil {
			if rel, err := filepath.Rel(f.Dir, file); err == nil {
				name = rel
			}
		}
		data, err := read(file)
		var ps []*policy.Policy
		if err == nil {
			ps, err = ParseFile(name, data, secrets)
		} else {
			err = &FileError{File: name, Err: err}
		}
		if err != nil {
			errs = append(errs, err)
			ps = f.lastGood[file]
		} else {
			f.lastGood[file] = ps
		}
		all = append(all, ps...)
	}
	for file := range f.lastGood {
		if !seen[file] {
			delete(f.lastGood, file) // deleted files take their policies with them
		}
	}
	f.OnUpdate(all)
	if len(errs) > 0 {
		return fmt.Errorf("some policy files are broken (their last good version stays in force): %w", joinErrs(errs))
	}
	return nil
}

// Run loads the folder and then reloads it on every change until ctx ends.
func (f *Folder) Run(ctx context.Context) error {
	if err := f.Load(); err != nil {
		f.Log.Error(err, "loading policies")
	}
	if f.FS != nil {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("failed to watch %s: %w", f.Dir, err)
	}
	defer w.Close()
	if err := addTree(w, f.Dir); err != nil {
		return err
	}
	debounce, resync := f.Debounce, f.Resync
	if debounce <= 0 {
		debounce = 100 * time.Millisecond
	}
	if resync <= 0 {
		resync = 30 * time.Second
	}
	tick := time.NewTicker(resync)
	defer tick.Stop()
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = addTree(w, ev.Name)
				}
			}
			fire = time.After(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			f.Log.Error(err, "watching policy folder", "dir", f.Dir)
		case <-fire:
			fire = nil
			f.reload()
		case <-tick.C:
			f.reload()
		}
	}
}

func (f *Folder) reload() {
	if err := f.Load(); err != nil {
		f.Log.Error(err, "reloading policies")
		return
	}
	f.Log.V(1).Info("policies reloaded", "dir", f.Dir)
}

func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := w.Add(path); err != nil {
				return fmt.Errorf("failed to watch %s: %w", path, err)
			}
		}
		return nil
	})
}

func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msg := ""
	for i, e := range errs {
		if i > 0 {
			msg += "; "
		}
		msg += e.Error()
	}
	return fmt.Errorf("%s", msg)
}
