// Package images builds Meshwork's container images without a container
// daemon and without pulling a base image: each image is one layer on an
// empty base holding a static Go binary, the CA certificates and a
// passwd/group naming the non-root user 65532, written as an OCI image
// layout in a tar archive (podman load, skopeo copy oci-archive:, crane
// push take it). Time zones come from the Go runtime's embedded copy
// (-tags timetzdata), so the image needs no /usr/share/zoneinfo.
//
// Check reads such an archive back as a deployment would: the config names
// a non-root user and an entrypoint, the entrypoint is in the layer, and
// the binary runs and prints the version and commit it was stamped with.
package images
