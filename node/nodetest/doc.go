// Package nodetest gives tests outside package node the fixture key
// (tss/fixtures) as decoded shares and as sealed key stores. Test-only.
package nodetest
