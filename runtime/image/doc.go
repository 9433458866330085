// Package image is the agent's own image store: with no Docker on the node,
// it pulls OCI/Docker images from registries, imports local archives, keeps
// every layer unpacked once in overlayfs form, and assembles a kernel's
// rootfs as an overlay mount of those layers.
//
// On disk, under the store root (<var-base-path>/images):
//
//	lock                       flock held while the index changes or GC runs
//	index.json                 image records by config digest, and tags
//	blobs/sha256/<hex>         manifests and image configs, by digest
//	layers/sha256/<hex>/       an unpacked layer, named by its diff ID; it
//	                           exists only once complete (renamed into place)
//	layers/tmp/<random>/       unpacks in progress; removed when found stale
//	l/<12 hex>                 short symlinks to layers, for overlay lowerdir
//	leases/<kernel-id>.json    layers held by a kernel's mounted rootfs
//
// An image is identified to the manager by its config digest (sha256:...).
// A pull that dies half way leaves at most temporary directories, never a
// layer or image record that looks complete; the next pull redoes what is
// missing. Two pulls of the same layer at once share one download.
package image
