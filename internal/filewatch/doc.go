// Package filewatch tells a service when a file it was configured with
// (the mesh file, the security policy) may have changed, so that it reads
// the file again without a restart.
//
// It watches the file's directory, not the file: editors and Kubernetes
// ConfigMaps and Secrets replace the file (a rename over it, the swap of a
// symlink on its way), which ends a watch on the file itself. A burst of
// events is one call, made a settle time after the first event, so a file
// written in several steps is read whole. And since some filesystems send
// no events (NFS, some container mounts), it can also compare the file's
// size and modification time at an interval. The caller reads the file
// and compares: a call is a hint, never a promise of a change.
package filewatch
