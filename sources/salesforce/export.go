package salesforce

import (
	"archive/zip"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// input is one CSV stream of the object: a plain file or an entry of a ZIP
// archive.
type input struct {
	name    string // prefix of record positions: "Account.csv" or "WE_00D…_1.ZIP:Account.csv"
	archive string // path of the ZIP archive, or "" for a plain file
	path    string // path of the plain file, or the entry's name inside archive
	size    int64  // uncompressed size in bytes
}

// selection is the export chosen for one run and the inputs read from it.
type selection struct {
	export string // the export chosen, for logs
	files  []string
	inputs []input
}

// part is one file of an export candidate.
type part struct {
	path    string
	number  int // part number from the file name, 1 for a file without one
	modTime time.Time
}

// candidate is one export found in a directory or a glob: the ZIP archives
// of one Data Export, or a plain object CSV.
type candidate struct {
	name    string // display name: the directory-relative path of the group
	zip     bool
	parts   []part // sorted by number
	modTime time.Time
}

// partPattern matches Data Export archive names. Salesforce names the parts
// of an export <prefix>_<n>.ZIP (WE_<org id>_1.ZIP, WE_<org id>_2.ZIP for a
// weekly export), and a browser that finds the name taken adds " (1)"
// before the extension, which stays part of the group's name.
var partPattern = regexp.MustCompile(`(?i)^(.+)_(\d{1,6})( ?\(\d+\))?\.zip$`)

func isZIP(name string) bool {
	return strings.EqualFold(filepath.Ext(name), ".zip")
}

func hasGlobMeta(p string) bool {
	return strings.ContainsAny(p, "*?[")
}

// selectInputs finds what to read at p: a file, a directory or a glob. It
// also returns the newer exports it passed over, each with the reason.
func selectInputs(p, object string) (selection, []string, error) {
	if hasGlobMeta(p) {
		if _, err := os.Stat(p); err != nil {
			return selectGlob(p, object)
		}
	}
	info, err := os.Stat(p)
	if err != nil {
		return selection{}, nil, fmt.Errorf("open %s: %w", p, err)
	}
	if info.IsDir() {
		candidates, err := scanDirectory(p, object)
		if err != nil {
			return selection{}, nil, err
		}
		if len(candidates) == 0 {
			return selection{}, nil, fmt.Errorf("no Salesforce export in %s: expected Data Export archives (WE_<org id>_<n>.ZIP) or %s, here or one directory below", p, object)
		}
		return newestComplete(p, candidates, object)
	}
	if !info.Mode().IsRegular() {
		return selection{}, nil, fmt.Errorf("open %s: not a regular file (mode %s); set a file, a directory or a glob", p, info.Mode().Type())
	}
	if isZIP(p) {
		// A single archive is read on its own even when it is one part of
		// a larger export, because the path names exactly this file.
		c := candidate{name: filepath.Base(p), zip: true, parts: []part{{path: p, number: 1, modTime: info.ModTime()}}}
		inputs, problem := c.objectInputs(object)
		if problem != "" {
			return selection{}, nil, fmt.Errorf("%s: %s", p, problem)
		}
		if len(inputs) == 0 {
			return selection{}, nil, fmt.Errorf("%s contains no %s; if the export has several parts, set source.path to their directory, or set source.object", p, object)
		}
		return selection{export: c.name, files: []string{p}, inputs: inputs}, nil, nil
	}
	return selection{
		export: p,
		files:  []string{p},
		inputs: []input{{name: p, path: p, size: info.Size()}},
	}, nil, nil
}

// selectGlob reads every CSV file the pattern matches, in name order, as one
// data set (the result files of one Bulk API 2.0 query, for example). When
// it matches ZIP archives, it picks the newest complete export among them,
// like a directory.
func selectGlob(pattern, object string) (selection, []string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return selection{}, nil, fmt.Errorf("invalid glob %q: %w", pattern, err)
	}
	var archives, files []string
	for _, m := range matches {
		info, err := os.Stat(m)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if isZIP(m) {
			archives = append(archives, m)
		} else {
			files = append(files, m)
		}
	}
	switch {
	case len(archives) == 0 && len(files) == 0:
		return selection{}, nil, fmt.Errorf("no files match %s; check source.path", pattern)
	case len(archives) > 0 && len(files) > 0:
		return selection{}, nil, fmt.Errorf("%s matches both ZIP archives (%s) and other files (%s); narrow the pattern to one kind", pattern, filepath.Base(archives[0]), filepath.Base(files[0]))
	case len(files) > 0:
		sel := selection{export: pattern, files: files}
		for _, f := range files {
			info, err := os.Stat(f)
			if err != nil {
				return selection{}, nil, fmt.Errorf("open %s: %w", f, err)
			}
			sel.inputs = append(sel.inputs, input{name: f, path: f, size: info.Size()})
		}
		return sel, nil, nil
	}

	groups := make(map[string]*candidate)
	base := globBase(pattern)
	for _, a := range archives {
		if err := addArchive(groups, base, a); err != nil {
			return selection{}, nil, err
		}
	}
	return newestComplete(pattern, sortedCandidates(groups), object)
}

// globBase returns the directory part of pattern before its first element
// with a glob metacharacter.
func globBase(pattern string) string {
	dir := filepath.Dir(pattern)
	for hasGlobMeta(dir) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// scanDirectory lists the export candidates in dir and in its immediate
// subdirectories, because admins often keep each week's download in a
// folder of its own. Hidden files are ignored, and so are files of other
// names, which includes unfinished browser downloads (.crdownload, .part).
func scanDirectory(dir, object string) ([]candidate, error) {
	groups := make(map[string]*candidate)
	var plain []candidate
	if err := scanLevel(groups, &plain, dir, "", object, true); err != nil {
		return nil, err
	}
	return append(sortedCandidates(groups), plain...), nil
}

// scanLevel scans the directory sub of dir, and its subdirectories when
// descend is set.
func scanLevel(groups map[string]*candidate, plain *[]candidate, dir, sub, object string, descend bool) error {
	entries, err := os.ReadDir(filepath.Join(dir, sub))
	if err != nil {
		return fmt.Errorf("list %s: %w", filepath.Join(dir, sub), err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(dir, sub, name)
		info, err := os.Stat(full) // follows symbolic links
		if err != nil {
			continue
		}
		switch {
		case info.IsDir():
			if descend {
				if err := scanLevel(groups, plain, dir, filepath.Join(sub, name), object, false); err != nil {
					return err
				}
			}
		case !info.Mode().IsRegular():
		case isZIP(name):
			if err := addArchive(groups, dir, full); err != nil {
				return err
			}
		case strings.EqualFold(name, object):
			*plain = append(*plain, candidate{
				name:    filepath.Join(sub, name),
				parts:   []part{{path: full, number: 1, modTime: info.ModTime()}},
				modTime: info.ModTime(),
			})
		}
	}
	return nil
}

// addArchive files the archive at full under its export group. base is the
// directory that group names are relative to.
func addArchive(groups map[string]*candidate, base, full string) error {
	info, err := os.Stat(full)
	if err != nil {
		return fmt.Errorf("open %s: %w", full, err)
	}
	rel, err := filepath.Rel(base, full)
	if err != nil {
		rel = full
	}
	groupName, number := rel, 1
	if m := partPattern.FindStringSubmatch(filepath.Base(rel)); m != nil {
		number, _ = strconv.Atoi(m[2])
		groupName = filepath.Join(filepath.Dir(rel), m[1]+m[3])
	}
	// Archives of the same name in different directories are different
	// exports.
	key := strings.ToLower(filepath.Join(filepath.Dir(full), filepath.Base(groupName)))
	c, ok := groups[key]
	if !ok {
		c = &candidate{name: groupName, zip: true}
		groups[key] = c
	}
	c.parts = append(c.parts, part{path: full, number: number, modTime: info.ModTime()})
	if info.ModTime().After(c.modTime) {
		c.modTime = info.ModTime()
	}
	return nil
}

func sortedCandidates(groups map[string]*candidate) []candidate {
	out := make([]candidate, 0, len(groups))
	for _, c := range groups {
		slices.SortFunc(c.parts, func(a, b part) int {
			if a.number != b.number {
				return a.number - b.number
			}
			return strings.Compare(a.path, b.path)
		})
		out = append(out, *c)
	}
	return out
}

// newestComplete picks the newest candidate that is complete. Newest means
// the latest modification time of any of its files, because Salesforce
// gives every export of an org the same file names. Ties go to the name
// that sorts last. The chosen export must contain the object. An export
// without it is an error, because reading an older one instead would sync
// stale data.
func newestComplete(where string, candidates []candidate, object string) (selection, []string, error) {
	slices.SortFunc(candidates, func(a, b candidate) int {
		if c := b.modTime.Compare(a.modTime); c != 0 {
			return c
		}
		return strings.Compare(b.name, a.name)
	})

	var skipped []string
	for _, c := range candidates {
		if problem := c.completeness(); problem != "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", c.name, problem))
			continue
		}
		inputs, problem := c.objectInputs(object)
		if problem != "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", c.name, problem))
			continue
		}
		if len(inputs) == 0 {
			return selection{}, skipped, fmt.Errorf("the newest complete export in %s, %s, contains no %s; select that object in Data Export, or set source.object", where, c.describe(), object)
		}
		sel := selection{export: c.describe(), inputs: inputs}
		for _, p := range c.parts {
			sel.files = append(sel.files, p.path)
		}
		return sel, skipped, nil
	}
	return selection{}, skipped, fmt.Errorf("no complete Salesforce export in %s: %s", where, strings.Join(skipped, "; "))
}

// describe names the candidate and its parts for logs and errors.
func (c candidate) describe() string {
	if !c.zip || len(c.parts) == 1 {
		return c.name
	}
	return fmt.Sprintf("%s (%d parts)", c.name, len(c.parts))
}

// completeness returns "" when the candidate's part numbers run from 1 to
// N without a gap or a repeat, or what is wrong otherwise.
//
// NOTE: Data Export does not state the number of parts in the archives, so
// a missing last part goes unnoticed. The newest export may therefore be
// read while its last part is still downloading, unless the download goes
// to a temporary name (as browsers do) and is renamed when it finishes.
func (c candidate) completeness() string {
	for i, p := range c.parts {
		switch {
		case p.number == i+1:
		case i > 0 && p.number == c.parts[i-1].number:
			return fmt.Sprintf("part %d is there twice (%s, %s)", p.number, filepath.Base(c.parts[i-1].path), filepath.Base(p.path))
		case p.number == 0:
			return fmt.Sprintf("%s has part number 0, but parts are numbered from 1", filepath.Base(p.path))
		default:
			return fmt.Sprintf("part %d is missing", i+1)
		}
	}
	return ""
}

// objectInputs opens each part and returns the object's CSV in it. Parts
// are read in order, so an object whose rows continue in a later part is
// read in full. A part that is not a readable ZIP archive (a truncated
// download, for example) makes the export incomplete, reported as problem.
//
// NOTE: Salesforce does not document whether Data Export splits one object
// across parts. Every entry named like the object is read, in part order,
// and the entries must share one header row.
func (c candidate) objectInputs(object string) (inputs []input, problem string) {
	if !c.zip {
		p := c.parts[0]
		info, err := os.Stat(p.path)
		if err != nil {
			return nil, fmt.Sprintf("cannot be read: %v", err)
		}
		return []input{{name: c.name, path: p.path, size: info.Size()}}, ""
	}
	for _, p := range c.parts {
		found, err := archiveEntries(p.path, object)
		if err != nil {
			return nil, fmt.Sprintf("part %d (%s) is not a readable ZIP archive: %v", p.number, filepath.Base(p.path), err)
		}
		if len(found) > 1 {
			names := make([]string, len(found))
			for i, f := range found {
				names[i] = f.path
			}
			return nil, fmt.Sprintf("%s contains %d files named %s (%s); set source.object to the path of one", filepath.Base(p.path), len(found), object, strings.Join(names, ", "))
		}
		inputs = append(inputs, found...)
	}
	return inputs, ""
}

// archiveEntries lists the entries of the ZIP archive at archivePath whose
// name, or base name, is object, in any case.
func archiveEntries(archivePath, object string) ([]input, error) {
	r, err := zip.OpenReader(archivePath)
	if err != nil {
		return nil, err
	}
	defer r.Close()

	var found []input
	for _, f := range r.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if !strings.EqualFold(f.Name, object) && !strings.EqualFold(path.Base(f.Name), object) {
			continue
		}
		found = append(found, input{
			name:    filepath.Base(archivePath) + ":" + f.Name,
			archive: archivePath,
			path:    f.Name,
			size:    int64(f.UncompressedSize64),
		})
	}
	return found, nil
}
