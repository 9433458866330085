// Package cgroup creates, limits and reads the cgroups of kernels under the
// agent's own absolute cgroup root. cgroup v2 is the primary target; v1
// (including the hybrid layout) is read where a node still has it.
//
// It is a leaf: it imports no other package of this module.
package cgroup
