package codec

import (
	"fmt"
	"time"
)

// TypeName names the Python type a decoded value stands for: str, int,
// float, bool, bytes, None, list, dict, UUID, datetime, Decimal, the
// enum's class name, and so on.
func TypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int64, uint64, int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case []byte:
		return "bytes"
	case []any, *pyList:
		return "list"
	case pyTuple:
		return "tuple"
	case map[string]any, map[any]any, OrderedMap, *pyDict:
		return "dict"
	case UUID:
		return "UUID"
	case time.Time, NaiveDateTime:
		return "datetime"
	case Decimal:
		return "Decimal"
	case Enum:
		return x.Class
	case *pyClass:
		return "type"
	case *pyObject:
		return x.cls.name
	case PosixPath:
		return "PosixPath"
	case PurePosixPath:
		return "PurePosixPath"
	case AutoDirectoryPath:
		return "AutoDirectoryPath"
	case ImageRef, *ImageRef:
		return "ImageRef"
	case ResourceSlot:
		return "ResourceSlot"
	case SlotName:
		return "SlotName"
	case BinarySize:
		return "BinarySize"
	}
	return fmt.Sprintf("%T", v)
}
