package codec

import "fmt"

// decimal: decimal.Decimal('1.5') is REDUCE(Decimal, (str,)).
func (p *pickler) decimal(d Decimal) error {
	if !validDecimal(string(d)) {
		return fmt.Errorf("invalid decimal %q", string(d))
	}
	if err := p.global("decimal", "Decimal"); err != nil {
		return err
	}
	if err := p.str(string(d), false); err != nil {
		return err
	}
	p.op(opTuple1)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	return nil
}

// enum: REDUCE(cls, (value,)) as CPython 3.12+ writes it, or
// REDUCE(getattr, (cls, "NAME")) for a member known by name only.
func (p *pickler) enum(e Enum) error {
	if !dottedName(e.Module) || !dottedName(e.Class) {
		return fmt.Errorf("bad enum class %q.%q", e.Module, e.Class)
	}
	if e.Value == nil && e.Member != "" {
		if err := p.global("builtins", "getattr"); err != nil {
			return err
		}
		if err := p.global(e.Module, e.Class); err != nil {
			return err
		}
		if err := p.str(e.Member, interned(e.Member)); err != nil {
			return err
		}
		p.op(opTuple2)
	} else {
		if err := p.global(e.Module, e.Class); err != nil {
			return err
		}
		if err := p.scalar(e.Value); err != nil {
			return err
		}
		p.op(opTuple1)
	}
	p.memoize()
	p.op(opReduce)
	p.memoize()
	return nil
}

// newObj writes cls and an empty argument tuple, then NEWOBJ.
func (p *pickler) newObj(module, name string) error {
	if err := p.global(module, name); err != nil {
		return err
	}
	p.op(opEmptyTuple, opNewObj)
	p.memoize()
	return nil
}

// imageRef: NEWOBJ(ImageRef) + BUILD of the dataclass's __dict__.
func (p *pickler) imageRef(r ImageRef) error {
	if err := p.newObj(modDocker, "ImageRef"); err != nil {
		return err
	}
	p.op(opEmptyDict)
	p.memoize()
	p.op(opMark)
	fields := []struct {
		key string
		val *string // nil: None
	}{{"name", &r.Name}, {"project", r.Project}, {"tag", &r.Tag}, {"registry", &r.Registry},
		{"architecture", &r.Architecture}}
	for _, f := range fields {
		if err := p.str(f.key, false); err != nil {
			return err
		}
		if f.val == nil {
			p.op(opNone)
			continue
		}
		if err := p.str(*f.val, interned(*f.val)); err != nil {
			return err
		}
	}
	if err := p.str("is_local", false); err != nil {
		return err
	}
	p.op(boolOp(r.IsLocal), opSetItems, opBuild)
	return nil
}

// resourceSlot: NEWOBJ(ResourceSlot) + BUILD of (None, {"data": {...}}),
// the state of a class whose only attribute is the slot "data".
func (p *pickler) resourceSlot(r ResourceSlot) error {
	if err := p.newObj(modTypes, "ResourceSlot"); err != nil {
		return err
	}
	p.op(opNone, opEmptyDict)
	p.memoize()
	if err := p.str("data", false); err != nil {
		return err
	}
	p.op(opEmptyDict)
	p.memoize()
	write := func(e SlotQuantity) error {
		if err := p.str(e.Slot, false); err != nil {
			return err
		}
		return p.decimal(e.Quantity)
	}
	if len(r) == 1 {
		if err := write(r[0]); err != nil {
			return err
		}
		p.op(opSetItem)
	} else if len(r) > 1 {
		// Batches of batchSize; a full last batch is followed by an empty
		// one, as in CPython's batch_dict_exact.
		for start := 0; start <= len(r); start += batchSize {
			p.op(opMark)
			for _, e := range r[start:min(start+batchSize, len(r))] {
				if err := write(e); err != nil {
					return fmt.Errorf("slot %q: %w", e.Slot, err)
				}
			}
			p.op(opSetItems)
		}
	}
	p.op(opSetItem, opTuple2)
	p.memoize()
	p.op(opBuild)
	return nil
}

// slotName: NEWOBJ(SlotName, (text,)) + BUILD of ({"data": text}, slots);
// the text is one object in both places.
func (p *pickler) slotName(s SlotName) error {
	if err := p.global(modTypes, "SlotName"); err != nil {
		return err
	}
	if err := p.str(string(s), true); err != nil {
		return err
	}
	p.op(opTuple1)
	p.memoize()
	p.op(opNewObj)
	p.memoize()
	p.op(opEmptyDict)
	p.memoize()
	if err := p.str("data", false); err != nil {
		return err
	}
	if err := p.str(string(s), true); err != nil {
		return err
	}
	p.op(opSetItem, opEmptyDict)
	p.memoize()
	p.op(opMark)
	for _, slot := range []string{"_device_name", "_major_type", "_minor_type"} {
		if err := p.str(slot, false); err != nil {
			return err
		}
		if err := p.str("", true); err != nil {
			return err
		}
	}
	if err := p.str("_parsed", false); err != nil {
		return err
	}
	p.op(opNewFalse, opSetItems, opTuple2)
	p.memoize()
	p.op(opBuild)
	return nil
}

// binarySize: NEWOBJ(BinarySize, (int,)); an empty __dict__ adds no BUILD.
func (p *pickler) binarySize(b BinarySize) error {
	if err := p.global(modTypes, "BinarySize"); err != nil {
		return err
	}
	p.int(int64(b))
	p.op(opTuple1)
	p.memoize()
	p.op(opNewObj)
	p.memoize()
	return nil
}
