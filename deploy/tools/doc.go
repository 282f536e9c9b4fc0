// Package tools is the module of Meshwork's deployment tooling: the image
// builder (cmd/mkimages, package images) and the checks of the
// deployment files under deploy/ (cmd/deploycheck, package validate).
//
// It is a module of its own so that its dependencies (the Kubernetes API
// types, kustomize, compose-go, go-containerregistry) stay out of the
// services' module: nothing here is linked into a Meshwork binary.
package tools
