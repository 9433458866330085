package netns

import "fmt"

// Counters returns the bytes a kernel received (rx) and sent (tx), read
// from the statistics of its host-side veth: what the host side transmits
// the kernel receives, and the other way round.
func (m *Manager) Counters(kernelID string) (rx, tx uint64, err error) {
	if err := validKernelID(kernelID); err != nil {
		return 0, 0, fmt.Errorf("counters of kernel: %w", err)
	}
	name := VethName(kernelID)
	link, err := m.host.LinkByName(name)
	if err != nil {
		return 0, 0, fmt.Errorf("counters of kernel %s: veth %s: %w", kernelID, name, err)
	}
	st := link.Attrs().Statistics
	if st == nil {
		return 0, 0, fmt.Errorf("counters of kernel %s: veth %s has no statistics", kernelID, name)
	}
	return st.TxBytes, st.RxBytes, nil
}
