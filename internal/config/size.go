package config

import (
	"fmt"
	"strconv"
	"strings"
)

// sizeUnits are the units ParseByteSize accepts, case-sensitive: SI units
// are powers of 1000 and IEC units powers of 1024, as their names say.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

const sizeHelp = `a size is a whole number of bytes with an optional unit: B; kB (or KB), MB, GB, TB = powers of 1000; KiB, MiB, GiB, TiB = powers of 1024`

// ParseByteSize parses a size in bytes: a decimal integer, optionally
// followed (spaces allowed between) by a unit taken literally: "10MB" is
// 10,000,000 bytes and "10MiB" 10,485,760; a bare number is bytes. Units
// are case-sensitive, so "10mb" (millibits?) is refused rather than
// guessed, and so is a bare "10M". Errors wrap ErrInvalid and quote s.
// It is the one size parser of the project: ByteSize uses it.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%w: %q is not a size (%s)", ErrInvalid, s, sizeHelp)
	}
	unit := strings.TrimLeft(t[i:], " \t")
	mult, ok := sizeUnits[unit]
	if !ok {
		for u := range sizeUnits {
			if u != "" && strings.EqualFold(u, unit) {
				return 0, fmt.Errorf("%w: size %q: unit %q: units are case-sensitive (%s)", ErrInvalid, s, unit, sizeHelp)
			}
		}
		return 0, fmt.Errorf("%w: size %q: unknown unit %q (%s)", ErrInvalid, s, unit, sizeHelp)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%w: size %q is too large", ErrInvalid, s)
	}
	return n * mult, nil
}
