// Package service holds what the main of every Meshwork command does the
// same way: stop on SIGINT or SIGTERM, and report a failure on stderr with
// a non-zero exit status.
package service
