package fsatomic

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"unicode/utf8"
)

const (
	tempInfix = ".tmp-"
	randLen   = 16                           // lowercase hex digits
	tempExtra = 1 + len(tempInfix) + randLen // what TempName adds to a name
	nameMax   = 255                          // NAME_MAX of Linux filesystems
)

// TempName returns a new temporary name for name (a base name): "." + name
// + ".tmp-" + 16 random lowercase hex digits. If that would exceed 255
// bytes, name is shortened (at a UTF-8 character boundary) to fit.
// IsTemp(TempName(name)) is true for every name.
func TempName(name string) string {
	if limit := nameMax - tempExtra; len(name) > limit {
		n := limit
		for n > 0 && !utf8.RuneStart(name[n]) {
			n--
		}
		name = name[:n]
	}
	var h [randLen]byte
	const digits = "0123456789abcdef"
	for i, x := 0, rand.Uint64(); i < randLen; i, x = i+1, x>>4 {
		h[randLen-1-i] = digits[x&0xf]
	}
	return "." + name + tempInfix + string(h[:])
}

// IsTemp reports whether name (a base name) has the form of the names
// TempName makes: "." + any string + ".tmp-" + 16 lowercase hex digits,
// 255 bytes at most.
func IsTemp(name string) bool {
	if len(name) < tempExtra || len(name) > nameMax || name[0] != '.' {
		return false
	}
	i := len(name) - randLen
	if name[i-len(tempInfix):i] != tempInfix {
		return false
	}
	for _, c := range []byte(name[i:]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// RemoveTemps removes every entry of dir that IsTemp recognises and returns
// their names. Those are the leftovers of calls that never reached their
// rename (a killed process, a crash). Call it only when no replacement in
// dir can be in flight (under the lock its writers hold): it would make
// one fail. A missing dir has nothing to remove.
func RemoveTemps(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var removed []string
	var errs []error
	if err != nil {
		errs = append(errs, err) // ReadDir returns what it read before the error
	}
	for _, e := range ents {
		if !IsTemp(e.Name()) {
			continue
		}
		err := os.Remove(filepath.Join(dir, e.Name()))
		switch {
		case err == nil:
			removed = append(removed, e.Name())
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
