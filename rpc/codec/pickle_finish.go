package codec

import (
	"errors"
	"fmt"
	"strconv"
)

// maxObjectDepth bounds the nesting of objects inside objects' state.
const maxObjectDepth = 16

// finish turns the machine's result into a Go value of this package.
func finish(v any, depth int) (any, error) {
	if depth > maxObjectDepth {
		return nil, errors.New("objects nested too deep")
	}
	o, ok := v.(*pyObject)
	if !ok {
		return v, nil
	}
	name := o.cls.module + "." + o.cls.name
	state, err := instanceDict(o.state)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch o.cls.kind {
	case kindBinarySize:
		return BinarySize(o.args[0].(int64)), nil
	case kindSlotName:
		s := o.args[0].(string)
		if data, ok := state.get("data"); ok {
			if s, ok = data.(string); !ok {
				return nil, fmt.Errorf("%s: data is a %s", name, TypeName(data))
			}
		}
		return SlotName(s), nil
	case kindImageRef:
		r, err := imageRef(state)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return r, nil
	case kindResourceSlot:
		r, err := resourceSlot(state, depth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%s: unexpected instance", name)
}

// instanceDict merges a BUILD state, either the __dict__ or the pair
// (__dict__ or None, slots) of a class with __slots__, into one dict.
func instanceDict(state any) (*pyDict, error) {
	switch s := state.(type) {
	case nil:
		return &pyDict{}, nil
	case *pyDict:
		return s, nil
	case pyTuple:
		if len(s) != 2 {
			return nil, fmt.Errorf("state tuple of %d items", len(s))
		}
		merged := &pyDict{}
		for _, part := range s {
			if part == nil {
				continue
			}
			d, ok := part.(*pyDict)
			if !ok {
				return nil, fmt.Errorf("state part is a %s", TypeName(part))
			}
			for i := range d.keys {
				if err := merged.setItems([]any{d.keys[i], d.vals[i]}); err != nil {
					return nil, err
				}
			}
		}
		return merged, nil
	}
	return nil, fmt.Errorf("state is a %s", TypeName(state))
}

func imageRef(state *pyDict) (ImageRef, error) {
	var r ImageRef
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &r.Name}, {"tag", &r.Tag}, {"registry", &r.Registry}, {"architecture", &r.Architecture}} {
		v, _ := state.get(f.key)
		s, ok := v.(string)
		if !ok {
			return r, fmt.Errorf("%s is a %s, want str", f.key, TypeName(v))
		}
		*f.dst = s
	}
	switch p, _ := state.get("project"); p := p.(type) {
	case nil:
	case string:
		r.Project = &p
	default:
		return r, fmt.Errorf("project is a %s, want str or None", TypeName(p))
	}
	local, _ := state.get("is_local")
	isLocal, ok := local.(bool)
	if !ok {
		return r, fmt.Errorf("is_local is a %s, want bool", TypeName(local))
	}
	r.IsLocal = isLocal
	return r, nil
}

// resourceSlot reads state["data"]: slot (str or SlotName) to Decimal; the
// str and int values of older releases are taken as decimals too.
func resourceSlot(state *pyDict, depth int) (ResourceSlot, error) {
	raw, _ := state.get("data")
	data, ok := raw.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("data is a %s, want dict", TypeName(raw))
	}
	r := make(ResourceSlot, 0, len(data.keys))
	for i, k := range data.keys {
		k, err := finish(k, depth+1)
		if err != nil {
			return nil, err
		}
		var slot string
		switch k := k.(type) {
		case string:
			slot = k
		case SlotName:
			slot = string(k)
		default:
			return nil, fmt.Errorf("slot key is a %s", TypeName(k))
		}
		var q Decimal
		switch v := data.vals[i].(type) {
		case Decimal:
			q = v
		case int64:
			q = Decimal(strconv.FormatInt(v, 10))
		case string:
			if q, err = ParseDecimal(v); err != nil {
				return nil, fmt.Errorf("slot %q: %w", slot, err)
			}
		default:
			return nil, fmt.Errorf("slot %q is a %s, want Decimal", slot, TypeName(v))
		}
		r = append(r, SlotQuantity{Slot: slot, Quantity: q})
	}
	return r, nil
}
