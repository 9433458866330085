// Package gpu discovers, allocates and measures NVIDIA GPUs through NVML and
// describes the device nodes and libraries a kernel needs to use them.
//
// It is a leaf: it imports no other package of this module.
package gpu
