package codec

import (
	"fmt"
	"time"
)

// decodeExt turns an ext payload into its Go value, as upstream's ext hook
// does. A pickle may hold any allowed class whatever the code says, as
// upstream's pickle.loads would.
func decodeExt(code int8, data []byte) (any, error) {
	switch code {
	case ExtUUID:
		if len(data) != 16 {
			return nil, fmt.Errorf("ext %d (UUID): %d bytes, want 16", code, len(data))
		}
		return UUID(data), nil
	case ExtDatetime:
		v, err := decodeTemporenc(data)
		if err != nil {
			return nil, fmt.Errorf("ext %d (datetime): %w", code, err)
		}
		return v, nil
	case ExtPosixPath:
		return PosixPath(data), nil
	case ExtPurePosixPath:
		return PurePosixPath(data), nil
	case ExtAutoDirectoryPath:
		return AutoDirectoryPath(data), nil
	case ExtDecimal, ExtEnum, ExtImageRef, ExtResourceSlot, ExtSlotName, ExtBinarySize:
		v, err := Unpickle(data)
		if err != nil {
			return nil, fmt.Errorf("ext %d: %w", code, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown msgpack ext type %d", code)
}

// encodeExt returns the ext code and payload of v, or ok false when v is
// not one of the ext types.
func encodeExt(v any) (code int8, data []byte, ok bool, err error) {
	switch x := v.(type) {
	case UUID:
		return ExtUUID, x[:], true, nil
	case time.Time:
		data, err = encodeTemporenc(x, false)
		return ExtDatetime, data, true, err
	case NaiveDateTime:
		data, err = encodeTemporenc(x.Time, true)
		return ExtDatetime, data, true, err
	case PosixPath:
		return ExtPosixPath, []byte(x), true, nil
	case PurePosixPath:
		return ExtPurePosixPath, []byte(x), true, nil
	case AutoDirectoryPath:
		return ExtAutoDirectoryPath, []byte(x), true, nil
	case Decimal:
		code = ExtDecimal
	case Enum:
		code = ExtEnum
	case ImageRef, *ImageRef:
		code = ExtImageRef
	case ResourceSlot:
		code = ExtResourceSlot
	case SlotName:
		code = ExtSlotName
	case BinarySize:
		code = ExtBinarySize
	default:
		return 0, nil, false, nil
	}
	data, err = Pickle(v)
	return code, data, true, err
}
