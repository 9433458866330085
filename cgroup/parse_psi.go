package cgroup

// parseCPUPressure, parseMemoryPressure and parseIOPressure parse the v2
// pressure files into s.PSI and set s.HasPSI.
func parseCPUPressure(b []byte, s *Sample) error {
	return parsePressureInto("cpu.pressure", b, s, &s.PSI.CPU)
}

func parseMemoryPressure(b []byte, s *Sample) error {
	return parsePressureInto("memory.pressure", b, s, &s.PSI.Memory)
}

func parseIOPressure(b []byte, s *Sample) error {
	return parsePressureInto("io.pressure", b, s, &s.PSI.IO)
}

func parsePressureInto(name string, b []byte, s *Sample, p *Pressure) error {
	if err := parsePressure(name, b, p); err != nil {
		return err
	}
	s.HasPSI = true
	return nil
}

// parsePressure parses a PSI file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// Unknown keys are ignored; a missing line leaves its half zero.
func parsePressure(name string, b []byte, p *Pressure) error {
	*p = Pressure{}
	l := lines{rest: b}
	for l.next() {
		kind, rest := nextField(l.line)
		var pl *PressureLine
		switch string(kind) {
		case "some":
			pl = &p.Some
		case "full":
			pl = &p.Full
		default:
			return malformed(name, l.n, `line is neither "some" nor "full"`, l.line)
		}
		err := eachKeyValue(name, l.n, rest, func(key, val, f []byte) error {
			var avg *float64
			switch string(key) {
			case "avg10":
				avg = &pl.Avg10
			case "avg60":
				avg = &pl.Avg60
			case "avg300":
				avg = &pl.Avg300
			case "total":
				n, ok := parseUint(val)
				if !ok {
					return malformed(name, l.n, "total is not a number", f)
				}
				pl.TotalMicros = n
				return nil
			default:
				return nil
			}
			v, ok := parseFixed(val)
			if !ok {
				return malformed(name, l.n, "average is not a decimal", f)
			}
			*avg = v
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
