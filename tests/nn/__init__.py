"""Tests of framework.nn (a package, so its test file names cannot clash with other folders')."""
