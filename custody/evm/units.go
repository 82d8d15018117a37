package evm

import (
	"fmt"
	"math/big"
	"strings"
)

// maxAmountDigits bounds the digits of an amount (a uint256 has 78).
const maxAmountDigits = 78

// ParseUnits converts an amount in token units ("1250.5") to base units
// with decimals places: exact, no floating point. It refuses signs,
// exponents, more fractional digits than decimals, and zero.
func ParseUnits(s string, decimals int) (*big.Int, error) {
	if decimals < 0 || decimals > 36 {
		return nil, fmt.Errorf("decimals %d out of range", decimals)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || !digits(whole) || !digits(frac) {
		return nil, fmt.Errorf("amount %q is not a plain decimal number", clip(s))
	}
	if len(frac) > decimals {
		return nil, fmt.Errorf("amount %q has %d decimal places; the token has %d", clip(s), len(frac), decimals)
	}
	if len(whole)+decimals > maxAmountDigits {
		return nil, fmt.Errorf("amount %q is too large", clip(s))
	}
	v, ok := new(big.Int).SetString(whole+frac+strings.Repeat("0", decimals-len(frac)), 10)
	if !ok || v.Sign() == 0 {
		return nil, fmt.Errorf("amount %q must be positive", clip(s))
	}
	return v, nil
}

// FormatUnits is the inverse of ParseUnits (trailing fractional zeros dropped).
func FormatUnits(v *big.Int, decimals int) string {
	if v == nil {
		return "0"
	}
	s := v.String()
	if decimals <= 0 {
		return s
	}
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	whole, frac := s[:len(s)-decimals], strings.TrimRight(s[len(s)-decimals:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
